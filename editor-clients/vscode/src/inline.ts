/**
 * Inline completion (ghost text). vscode-languageclient's built-in LSP 3.18
 * `textDocument/inlineCompletion` feature does the work; this middleware only honours
 * `codehearth.completion.enabled`, read at each request so that it applies at once.
 */

import type { Middleware } from 'vscode-languageclient/node';

export function inlineMiddleware(enabled: () => boolean): Middleware {
  return {
    provideInlineCompletionItems: (document, position, context, token, next) => {
      if (!enabled()) {
        return null;
      }
      return next(document, position, context, token);
    },
  };
}
