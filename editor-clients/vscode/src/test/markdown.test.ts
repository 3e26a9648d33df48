import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, renderInline, renderMarkdown } from '../markdown';
import { makeNonce, panelHtml, parsePageMessage } from '../html';

describe('markdown rendering', () => {
  it('escapes all HTML from the model', () => {
    const out = renderMarkdown('<script>alert(1)</script> <img src=x onerror=alert(1)> & "q"');
    assert.ok(!out.includes('<script'));
    assert.ok(!out.includes('<img'));
    assert.equal(out, '<p>&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;</p>');
    assert.equal(escapeHtml(`'`), '&#39;');
  });

  it('inline code, bold, italic; snake_case stays plain', () => {
    assert.equal(renderInline('use `a**b<c` and **bold** and *it* in snake_case_name'),
      'use <code>a**b&lt;c</code> and <strong>bold</strong> and <em>it</em> in snake_case_name');
    assert.equal(renderInline('2 * 3 * 4'), '2 * 3 * 4');
  });

  it('fenced code keeps its text, language class escaped', () => {
    const out = renderMarkdown('Look:\n```python\nif a < b:\n    print("x")\n```\nDone.');
    assert.equal(out, '<p>Look:</p>\n<pre><code class="language-python">if a &lt; b:\n    print(&quot;x&quot;)</code></pre>\n<p>Done.</p>');
  });

  it('an unclosed fence (still streaming) is code to the end', () => {
    assert.equal(renderMarkdown('```\nx = 1\ny'), '<pre><code>x = 1\ny</code></pre>');
  });

  it('headings, lists, paragraphs with line breaks', () => {
    const out = renderMarkdown('# Title\n\nline one\nline two\n\n- a\n- `b`\n  more\n\n3. x\n4. y');
    assert.equal(
      out,
      '<h1>Title</h1>\n<p>line one<br>line two</p>\n<ul><li>a</li><li><code>b</code> more</li></ul>\n<ol start="3"><li>x</li><li>y</li></ol>',
    );
  });

  it('empty input', () => {
    assert.equal(renderMarkdown(''), '');
  });
});

describe('panel page', () => {
  it('has a strict CSP with the nonce and no unsafe-inline', () => {
    const nonce = makeNonce();
    assert.match(nonce, /^[A-Za-z0-9]{32}$/);
    const html = panelHtml(nonce, 'vscode-resource:');
    assert.ok(html.includes(`script-src 'nonce-${nonce}'`));
    assert.ok(html.includes("default-src 'none'"));
    assert.ok(!html.includes('unsafe-inline'));
    assert.ok(!html.includes('unsafe-eval'));
    assert.equal((html.match(/<script nonce=/g) ?? []).length, 1);
    assert.equal((html.match(/<script/g) ?? []).length, 1);
  });

  it('page messages are checked', () => {
    assert.deepEqual(parsePageMessage({ type: 'send', text: 'hi' }), { type: 'send', text: 'hi' });
    assert.equal(parsePageMessage({ type: 'send', text: '   ' }), undefined);
    assert.equal(parsePageMessage({ type: 'send', text: 3 }), undefined);
    assert.deepEqual(parsePageMessage({ type: 'stop', extra: 1 }), { type: 'stop' });
    assert.equal(parsePageMessage({ type: 'eval' }), undefined);
    assert.equal(parsePageMessage('send'), undefined);
  });
});
