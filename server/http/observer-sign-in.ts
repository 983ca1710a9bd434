/**
 * The page a browser gets at /observer before it has signed in: one field for the admin
 * token. Self-contained (its stylesheet inline, allowed by hash), since everything else under
 * /observer needs the session it is about to make.
 */
import { createHash } from 'node:crypto';

const STYLE = `
body{margin:0;min-height:100vh;display:grid;place-items:center;background:#f4f5f7;color:#1f2937;
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:min(26rem,92vw);background:#fff;border:1px solid #d9dde3;border-radius:10px;padding:1.6rem 1.8rem;
box-shadow:0 1px 3px rgb(0 0 0/.06)}
h1{font-size:1.25rem;margin:0 0 .3rem}p{margin:.3rem 0 1rem;color:#4b5563}
label{display:block;font-weight:600;margin-bottom:.35rem}
input{box-sizing:border-box;width:100%;font:inherit;padding:.5rem .6rem;border:1px solid #b8bfc9;border-radius:6px}
button{margin-top:1rem;font:inherit;font-weight:600;padding:.5rem 1.1rem;border:0;border-radius:6px;
background:#2f5fa7;color:#fff;cursor:pointer}
.error{color:#9f1d1d;background:#fdecec;border:1px solid #f3c4c4;border-radius:6px;padding:.5rem .7rem}
code{font-size:.9em}`;

/** Lets the inline stylesheet, and nothing else inline, through the page's policy. */
export const SIGN_IN_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `error`: why the last attempt was refused, shown above the form. */
export function signInPage(node: string, error?: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Hotline observer · ${escapeHtml(node)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Hotline observer</h1>
<p>Node <strong>${escapeHtml(node)}</strong>. Sign in with the admin token: it is in
<code>&lt;data-dir&gt;/admin-token</code>, or in <code>HOTLINE_ADMIN_TOKEN</code>.</p>
${error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>\n`}<form method="post" action="/observer/session">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`;
}
