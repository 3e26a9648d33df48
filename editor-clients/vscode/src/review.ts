/**
 * Codehearth: Review File — the file (or the selected lines) reviewed under a cancellable
 * notification; the server publishes the findings as diagnostics with quick fixes.
 */

import * as vscode from 'vscode';
import type { Assist, CommandTarget } from './assist';
import { errorMessage, lineSpan, LspRange, parseReviewResult, ReviewResult, reviewArgs, reviewSummary, SERVER_COMMANDS } from './commands';
import { samplingFor } from './config';
import { currentSettings } from './env';

export async function reviewFile(assist: Assist): Promise<void> {
  const target = assist.target('review code');
  if (!target) {
    return;
  }
  const { editor, doc, uri, lineLength } = target;
  const selection = editor.selection.isEmpty ? undefined : editor.selection;
  const name = vscode.workspace.asRelativePath(doc.uri);
  const range = reviewArgs(uri, selection, { lineLength }).range;
  assist.log.line(`review: ${lineSpan(range)}`);
  await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `codehearth: reviewing ${name}${range ? `, ${lineSpan(range)}` : ''}`,
      cancellable: true,
    },
    (_progress, token) => runReview(assist, target, selection, { name, range }, token),
  );
}

async function runReview(
  assist: Assist,
  target: CommandTarget,
  selection: vscode.Selection | undefined,
  where: { name: string; range: LspRange | undefined },
  token: vscode.CancellationToken,
): Promise<void> {
  const { client, uri, lineLength } = target;
  const { settings } = currentSettings();
  let streamId: string | undefined;
  const cancel = token.onCancellationRequested(() => {
    if (streamId) {
      void assist.cancel(client, streamId);
    }
  });
  try {
    const raw = await assist.streamed(
      client,
      SERVER_COMMANDS.review,
      (id) => {
        streamId = id;
        return reviewArgs(uri, selection, { streamId: id, lineLength, sampling: samplingFor('review', settings) });
      },
      () => undefined,
    );
    showSummary(parseReviewResult(raw), where);
  } catch (err) {
    assist.log.line(`review failed: ${errorMessage(err)}`);
    void vscode.window.showErrorMessage(`codehearth review: ${errorMessage(err)}`);
  } finally {
    cancel.dispose();
  }
}

function showSummary(result: ReviewResult, where: { name: string; range: LspRange | undefined }): void {
  const summary = `codehearth: ${reviewSummary(result, where.name, where.range)}`;
  if (result.findings.length === 0) {
    void vscode.window.showInformationMessage(summary);
    return;
  }
  void vscode.window.showInformationMessage(summary, 'Show Problems').then((choice) => {
    if (choice === 'Show Problems') {
      void vscode.commands.executeCommand('workbench.actions.view.problems');
    }
  });
}
