// A sparkline: one SVG polyline of the last values, newest at the right edge, scaled to its own
// maximum. It spans at least `minPoints` slots, so a fresh page shows its first points as a
// short line at the right rather than stretched over the whole width.

import { svg } from './dom.js';

const WIDTH = 160;
const HEIGHT = 32;

export function sparkline(values, { minPoints = 2, label = '' } = {}) {
  const graph = svg('svg', { class: 'sparkline', width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label });
  // The time axis, so a short history reads as "recent" rather than as a stray mark.
  graph.append(svg('line', { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, class: 'axis' }));
  if (values.length < 2) return graph;
  const max = Math.max(...values, 1e-9);
  const step = WIDTH / (Math.max(minPoints, values.length) - 1);
  const offset = WIDTH - step * (values.length - 1);
  const points = values.map((value, index) => `${(offset + index * step).toFixed(1)},${(HEIGHT - 2 - (value / max) * (HEIGHT - 4)).toFixed(1)}`);
  graph.append(svg('polyline', { points: [`${offset.toFixed(1)},${HEIGHT}`, ...points, `${WIDTH},${HEIGHT}`].join(' '), class: 'area' }));
  graph.append(svg('polyline', { points: points.join(' '), class: 'line' }));
  return graph;
}
