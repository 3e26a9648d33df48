import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as ts from 'typescript';

// The tests run from out/test; the sources they check are in src/.
const SRC = path.join(__dirname, '..', '..', 'src');
const MAX_MODULE_LINES = 400;
const MAX_FUNCTION_LINES = 60;

function sources(): Array<{ name: string; text: string; file: ts.SourceFile }> {
  return fs
    .readdirSync(SRC)
    .filter((f) => f.endsWith('.ts'))
    .map((name) => {
      const text = fs.readFileSync(path.join(SRC, name), 'utf8');
      return { name, text, file: ts.createSourceFile(name, text, ts.ScriptTarget.ES2022, true) };
    });
}

function longFunctions(file: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const last = file.getLineAndCharacterOfPosition(node.end).line;
      if (last - first + 1 > MAX_FUNCTION_LINES) {
        const name = node.name ? node.name.getText(file) : '(anonymous)';
        found.push(`${file.fileName}:${first + 1} ${name} (${last - first + 1} lines)`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

describe('source layout (house rules)', () => {
  it(`modules are at most ${MAX_MODULE_LINES} lines`, () => {
    const all = sources();
    assert.ok(all.length >= 10, `found the sources in ${SRC}`);
    const long = all.filter((s) => s.text.split('\n').length > MAX_MODULE_LINES).map((s) => s.name);
    assert.deepEqual(long, []);
  });

  it(`functions are at most ${MAX_FUNCTION_LINES} lines`, () => {
    assert.deepEqual(sources().flatMap((s) => longFunctions(s.file)), []);
  });

  it('modules that say they are pure do not import vscode', () => {
    const pure = sources().filter((s) => s.text.includes('Pure: no `vscode` import'));
    assert.ok(pure.length >= 8);
    for (const s of pure) {
      assert.doesNotMatch(s.text, /from 'vscode'|require\('vscode'\)/, s.name);
    }
  });

  it('extension.ts only composes: no classes of its own', () => {
    const ext = sources().find((s) => s.name === 'extension.ts');
    assert.ok(ext);
    assert.ok(!ext.file.statements.some((st) => ts.isClassDeclaration(st)));
  });
});
