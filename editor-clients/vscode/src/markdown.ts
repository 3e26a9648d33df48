/**
 * A small markdown → HTML renderer for model replies shown in the webview.
 *
 * Safe by construction: every piece of text is HTML-escaped and only a fixed set of
 * tags is produced (no raw HTML, links or images from the model), so a reply cannot
 * inject markup or scripts. It is re-run on the text so far while a reply streams, so
 * an unclosed code fence renders as code up to the end.
 *
 * Pure: no `vscode` import.
 */

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

function inlineText(text: string): string {
  let out = escapeHtml(text);
  out = out.replace(/\*\*([^*\n]+?)\*\*/g, '<strong>$1</strong>');
  out = out.replace(/(^|[^*\w])\*([^*\s][^*\n]*?)\*(?!\*)/g, '$1<em>$2</em>');
  return out;
}

/** Inline markdown: `code`, **bold**, *italic*; everything else is plain text. */
export function renderInline(text: string): string {
  const parts = text.split(/(`+[^`\n]*?`+)/g);
  return parts
    .map((part) => {
      const m = /^(`+)([^`\n]*?)\1$/.exec(part);
      if (m) {
        return `<code>${escapeHtml(m[2])}</code>`;
      }
      return inlineText(part);
    })
    .join('');
}

const FENCE = /^\s{0,3}(```+|~~~+)\s*([\w+#.-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;

/** Collects the HTML of the blocks: an open paragraph and an open list are flushed as needed. */
class BlockWriter {
  readonly html: string[] = [];
  private paragraph: string[] = [];
  private list: { tag: 'ul' | 'ol'; items: string[]; start: number } | undefined;

  flushParagraph(): void {
    if (this.paragraph.length > 0) {
      this.html.push(`<p>${this.paragraph.map(renderInline).join('<br>')}</p>`);
      this.paragraph = [];
    }
  }

  flushList(): void {
    const list = this.list;
    if (list) {
      const start = list.tag === 'ol' && list.start !== 1 ? ` start="${list.start}"` : '';
      this.html.push(`<${list.tag}${start}>${list.items.map((i) => `<li>${renderInline(i)}</li>`).join('')}</${list.tag}>`);
      this.list = undefined;
    }
  }

  flush(): void {
    this.flushParagraph();
    this.flushList();
  }

  /** A finished block (code, heading) after whatever was open. */
  block(html: string): void {
    this.flush();
    this.html.push(html);
  }

  listItem(tag: 'ul' | 'ol', text: string, start: number): void {
    this.flushParagraph();
    if (!this.list || this.list.tag !== tag) {
      this.flushList();
      this.list = { tag, items: [], start };
    }
    this.list.items.push(text);
  }

  /** Adds `line` to the last list item when it is an indented continuation of it. */
  continuesList(line: string): boolean {
    if (!this.list || !/^\s+\S/.test(line)) {
      return false;
    }
    this.list.items[this.list.items.length - 1] += ` ${line.trim()}`;
    return true;
  }

  paragraphLine(line: string): void {
    this.flushList();
    this.paragraph.push(line);
  }
}

/** The fenced block opened at `lines[open]`: its HTML and the index of its closing line. */
function fencedCode(lines: string[], open: number, fence: RegExpExecArray): { html: string; end: number } {
  const marker = fence[1];
  const lang = fence[2];
  const body: string[] = [];
  let i = open + 1;
  while (i < lines.length && !(lines[i].trim().startsWith(marker[0].repeat(marker.length)) && lines[i].trim().replace(/[`~]/g, '') === '')) {
    body.push(lines[i]);
    i++;
  }
  const cls = lang ? ` class="language-${escapeHtml(lang)}"` : '';
  return { html: `<pre><code${cls}>${escapeHtml(body.join('\n'))}</code></pre>`, end: i };
}

/** One line that is not in a code fence. */
function writeLine(out: BlockWriter, line: string): void {
  if (line.trim() === '') {
    out.flush();
    return;
  }
  const heading = HEADING.exec(line);
  if (heading) {
    const level = heading[1].length;
    out.block(`<h${level}>${renderInline(heading[2])}</h${level}>`);
    return;
  }
  const bullet = BULLET.exec(line);
  if (bullet) {
    out.listItem('ul', bullet[1], 1);
    return;
  }
  const ordered = ORDERED.exec(line);
  if (ordered) {
    out.listItem('ol', ordered[2], Number(ordered[1]));
    return;
  }
  if (!out.continuesList(line)) {
    out.paragraphLine(line);
  }
}

/** Block markdown: fenced code, headings, lists, paragraphs. */
export function renderMarkdown(markdown: string): string {
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
  const out = new BlockWriter();
  for (let i = 0; i < lines.length; i++) {
    const fence = FENCE.exec(lines[i]);
    if (fence) {
      const code = fencedCode(lines, i, fence);
      out.block(code.html);
      i = code.end;
      continue;
    }
    writeLine(out, lines[i]);
  }
  out.flush();
  return out.html.join('\n');
}
