/** Codehearth: Explain Selection — the explanation streamed into the codehearth panel. */

import * as vscode from 'vscode';
import type { Assist } from './assist';
import { errorMessage, explainArgs, lineSpan, parseExplainResult, replyNote, SERVER_COMMANDS } from './commands';
import { samplingFor } from './config';
import { currentSettings } from './env';
import { escapeHtml, renderMarkdown } from './markdown';

/** Explains the selection; nothing selected: the definition around the cursor. */
export async function explainSelection(assist: Assist): Promise<void> {
  const target = assist.target('explain code');
  if (!target) {
    return;
  }
  const { editor, client, doc, uri, lineLength } = target;
  const { settings } = currentSettings();
  const preview = explainArgs(uri, editor.selection, { lineLength });
  const name = vscode.workspace.asRelativePath(doc.uri);
  const title = editor.selection.isEmpty
    ? `Explain ${name}, ${lineSpan(preview.range)} (the definition around the cursor)`
    : `Explain ${name}, ${lineSpan(preview.range)}`;
  const panel = assist.panel;
  panel.show(true);
  panel.add('user', '', title);
  const entry = panel.add('assistant', '', undefined, true);
  const sink = assist.streamInto(entry);
  assist.log.line(`explain: ${lineSpan(preview.range)}`);
  try {
    const raw = await assist.streamed(
      client,
      SERVER_COMMANDS.explain,
      (streamId) => explainArgs(uri, editor.selection, { streamId, lineLength, sampling: samplingFor('explain', settings) }),
      sink.onText,
    );
    sink.flush();
    const result = parseExplainResult(raw);
    panel.update(entry, renderMarkdown(result.markdown + replyNote(result)), false);
  } catch (err) {
    sink.flush();
    assist.log.line(`explain failed: ${errorMessage(err)}`);
    panel.update(entry, escapeHtml(errorMessage(err)), false, 'error');
  }
}
