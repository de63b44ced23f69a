// The path normalization every request goes through (host/proxy/request-path.ts), as a pure
// function: the table of spellings that must come out as one path, and the ones refused.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalizeTarget, originForm, PathRefusal, type PathRules } from '../host/proxy/request-path.js';

const DEFAULTS: PathRules = { normalize: true, mergeSlashes: true, escapedSlashes: 'reject' };

function normalized(target: string, rules: PathRules = DEFAULTS): string {
  const result = normalizeTarget(target, rules);
  assert.ok(!(result instanceof PathRefusal), `${target} was refused: ${result instanceof PathRefusal ? result.reason : ''}`);
  return result;
}

function refusal(target: string, rules: PathRules = DEFAULTS): string {
  const result = normalizeTarget(target, rules);
  assert.ok(result instanceof PathRefusal, `${target} was not refused: ${String(result)}`);
  return result.reason;
}

describe('request path normalization', () => {
  test('spellings of one path come out as that path', () => {
    const cases: Array<[string, string]> = [
      ['/private/x', '/private/x'],
      ['/x/../private/x', '/private/x'],
      ['/%70rivate/x', '/private/x'],
      ['//private///x', '/private/x'],
      ['/./private/./x', '/private/x'],
      ['/%2e%2E/private/x', '/private/x'],
      ['/a/.%2e/private/x', '/private/x'],
      ['/../../private/x', '/private/x'],
      ['/a//../b', '/b'],
      ['/a/b/..', '/a/'],
      ['/a/b/.', '/a/b/'],
      ['/a/', '/a/'],
      ['/', '/'],
      ['/..', '/'],
      ['/.well-known/x', '/.well-known/x'],
      ['/a/%7euser', '/a/~user'],
      ['/a%3bb/%c3%a9', '/a%3Bb/%C3%A9'],
      ['/public/..;/admin/', '/public/..;/admin/'],
    ];
    for (const [target, expected] of cases) assert.equal(normalized(target), expected, target);
  });

  test('the query is never touched', () => {
    assert.equal(normalized('/a/../b?x=/../%2f&y=%70'), '/b?x=/../%2f&y=%70');
    assert.equal(normalized('/a?'), '/a?');
  });

  test('escaped slashes and backslashes: reject (default), keep, decode', () => {
    assert.equal(refusal('/private%2fx'), 'escaped slash (%2F) in path');
    assert.equal(refusal('/private%5Cx'), 'escaped slash (%5C) in path');
    assert.equal(refusal('/private\\x'), 'backslash in path');
    const keep: PathRules = { ...DEFAULTS, escapedSlashes: 'keep' };
    assert.equal(normalized('/private%2fx', keep), '/private%2Fx');
    assert.equal(normalized('/a\\..\\b', keep), '/a\\..\\b');
    const decode: PathRules = { ...DEFAULTS, escapedSlashes: 'decode' };
    assert.equal(normalized('/private%2fx', decode), '/private/x');
    assert.equal(normalized('/a\\..\\private%5cx', decode), '/private/x');
  });

  test('bad escapes and fragments are refused', () => {
    assert.equal(refusal('/a%zz'), 'invalid percent-encoding in path');
    assert.equal(refusal('/a%2'), 'invalid percent-encoding in path');
    assert.equal(refusal('/a#frag'), 'request target has a fragment (#)');
  });

  test('normalize_path and merge_slashes off', () => {
    const raw: PathRules = { normalize: false, mergeSlashes: false, escapedSlashes: 'reject' };
    assert.equal(normalized('/x/../%70//y', raw), '/x/../%70//y');
    assert.equal(normalized('/x//y', { ...DEFAULTS, mergeSlashes: false }), '/x//y');
  });
});

describe('request target forms', () => {
  test('absolute form becomes origin form plus its authority', () => {
    assert.deepEqual(originForm('http://h.example:8080/x?y'), { target: '/x?y', authority: 'h.example:8080' });
    assert.deepEqual(originForm('HTTPS://h.example'), { target: '/', authority: 'h.example' });
    assert.deepEqual(originForm('http://h.example?q'), { target: '/?q', authority: 'h.example' });
    assert.deepEqual(originForm('/x'), { target: '/x' });
  });

  test('other forms, user information and invisible characters are refused', () => {
    for (const target of ['*', 'h.example/x', 'ftp://h/x', 'http://user@h/x', 'http:///x', '/a b', '/a\u00e9']) {
      assert.ok(originForm(target) instanceof PathRefusal, target);
    }
  });
});
