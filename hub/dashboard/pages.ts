// The dashboard's two HTML documents: the login form and the shell the browser code fills in. Pure: no IO.
// No inline script or style (the Content-Security-Policy forbids them); every inserted text is HTML-escaped.

/** The policy of every dashboard document: own scripts, styles and requests only; no frames, no plugins, no eval. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  // the browser code never writes HTML from strings (textContent only): make any such sink an error (Trusted Types)
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** Headers of every dashboard answer (documents and assets). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // not no-referrer: under it Chromium sends "Origin: null" with the login form's POST, which the origin check refuses
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), usb=(), serial=()',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/ui/assets/app.css">
<link rel="icon" href="data:,">
${head}</head>
<body>
${body}
</body>
</html>
`;
}

/** The login form: the hub's API token is exchanged for a session cookie (POST /ui/login). */
export function loginPage(error = ''): string {
  const why = error === '' ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>\n`;
  return page(
    'fota hub — log in',
    '',
    `<main class="login">
<h1>fota hub</h1>
<form method="post" action="/ui/login">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
${why}<button type="submit">Log in</button>
<p class="hint">The token the hub was started with (<code>--token-file</code> or <code>FOTA_HUB_TOKEN</code>). It is sent once and exchanged for a session cookie; it is never kept in the browser.</p>
</form>
</main>`,
  );
}

/** The dashboard's shell: the browser code (ES module) builds the views into <main>. */
export function appPage(csrf: string, opts: { version: string; canLogout: boolean }): string {
  return page(
    'fota hub',
    `<meta name="fota-csrf" content="${escapeHtml(csrf)}">
<meta name="fota-version" content="${escapeHtml(opts.version)}">
<script type="module" src="/ui/assets/app.js"></script>
`,
    `<header>
<h1>fota hub</h1>
<nav>
<a href="#devices" data-view="devices">Devices</a>
<a href="#jobs" data-view="jobs">Jobs</a>
<a href="#history" data-view="history">History</a>
<a href="#new" data-view="new">New firmware job</a>
</nav>
<span id="live" class="live" aria-live="polite">connecting…</span>
${opts.canLogout ? '<button id="logout" type="button" class="link">Log out</button>' : ''}
</header>
<main id="view"><noscript>The dashboard needs JavaScript; the same is available with the fota CLI (fota job list, fota device list).</noscript></main>`,
  );
}
