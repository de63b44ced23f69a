// The admin API's route patterns (host/admin/path-pattern.ts): `:param` segments, a final `*`,
// percent-decoding, and the most specific pattern winning whatever the order of the routes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PathPattern } from '../host/admin/path-pattern.js';

describe('admin path patterns', () => {
  test('literal segments match exactly, one segment each', () => {
    const pattern = new PathPattern('/chain/history');
    assert.deepEqual(pattern.match('/chain/history'), {});
    assert.equal(pattern.match('/chain'), undefined);
    assert.equal(pattern.match('/chain/history/3'), undefined);
    assert.equal(pattern.match('/chain/history/'), undefined);
    assert.deepEqual(new PathPattern('/').match('/'), {});
  });

  test(':params take one non-empty segment, percent-decoded', () => {
    const pattern = new PathPattern('/filters/:name/versions/:version');
    assert.deepEqual(pattern.match('/filters/auth/versions/2'), { name: 'auth', version: '2' });
    assert.deepEqual(pattern.match('/filters/my%20filter/versions/2'), { name: 'my filter', version: '2' });
    assert.equal(pattern.match('/filters//versions/2'), undefined);
    assert.equal(pattern.match('/filters/%E0%A4%A/versions/2'), undefined, 'malformed percent-encoding matches nothing');
  });

  test('a final * takes the rest of the path, however deep', () => {
    const pattern = new PathPattern('/ui/*');
    assert.deepEqual(pattern.match('/ui/'), {});
    assert.deepEqual(pattern.match('/ui/app/main.js'), {});
    assert.equal(pattern.match('/uix'), undefined);
    assert.throws(() => new PathPattern('/a/*/b'), /\* must be the last segment/);
  });

  test('the most specific pattern sorts first: literal, then :param, then *', () => {
    const patterns = ['/chain/*', '/chain/:revision', '/chain/history'].map((p) => new PathPattern(p));
    patterns.sort((a, b) => a.compare(b));
    assert.deepEqual(
      patterns.map((p) => p.pattern),
      ['/chain/history', '/chain/:revision', '/chain/*'],
    );
  });
});
