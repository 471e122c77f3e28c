// Owns the markup of the sandbox banks' holder pages: an escaping template tag and one page layout, no external assets.
// Must never interpolate a value unescaped: only Html made by this tag passes through as markup.
import type { SeededBank } from './seed.js';

export class Html {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup;
  }
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

type Part = Html | string | number | null | undefined | false | ReadonlyArray<Html>;

function render(part: Part): string {
  if (part === null || part === undefined || part === false) return '';
  if (part instanceof Html) return part.markup;
  if (Array.isArray(part)) return part.map((p: Html) => p.markup).join('');
  return escapeHtml(String(part));
}

/** html`<p>${text}</p>`: every interpolation is escaped unless it is Html itself. */
export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0] ?? '';
  parts.forEach((part, i) => {
    out += render(part) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

export function yen(amount: number): string {
  return `¥${amount.toLocaleString('en-US')}`;
}

const STYLE = `
body{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;margin:0;background:#f4f6f8;color:#1c2733}
header{background:#1f4e79;color:#fff;padding:12px 24px}header h1{margin:0;font-size:20px}header small{opacity:.8}
main{max-width:760px;margin:24px auto;background:#fff;padding:24px;border-radius:8px;box-shadow:0 1px 3px #0002}
label{display:block;margin:12px 0 4px;font-weight:600}input,textarea,select{font-size:16px;padding:8px;width:100%;box-sizing:border-box}
button{font-size:16px;padding:10px 20px;margin:16px 8px 0 0;border:0;border-radius:6px;background:#1f4e79;color:#fff;cursor:pointer}
button.secondary{background:#8a96a3}table{width:100%;border-collapse:collapse;font-size:14px}
th,td{border-bottom:1px solid #dde3e8;padding:6px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.error{background:#fde8e8;color:#8a1c1c;padding:10px;border-radius:6px}.note{background:#fff8e1;padding:10px;border-radius:6px}
nav a{color:#fff;margin-right:16px}ul.scopes li{margin:6px 0}.sandbox{font-size:12px;color:#6b7785}`;

export function page(bank: SeededBank, title: string, body: Html, options: { signedIn?: boolean } = {}): string {
  const base = `/banks/${bank.code}`;
  const nav = options.signedIn
    ? html`<nav><a href="${base}/passbook">通帳 Passbook</a><a href="${base}/inbox">お知らせ Inbox</a><a href="${base}/links">ウォレット連携 Wallet links</a></nav>`
    : html``;
  return `<!doctype html>${html`<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} — ${bank.name}</title><style>${new Html(STYLE)}</style></head>
<body><header><h1>${bank.name} <small>${bank.nameKana}</small></h1>${nav}</header>
<main><h2>${title}</h2>${body}</main>
<p class="sandbox" style="text-align:center">koza bank sandbox — fictional bank ${bank.code}; no real money.</p></body></html>`.markup}`;
}

/** A hidden input per field. */
export function hidden(fields: Record<string, string>): Html {
  return new Html(Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`.markup).join(''));
}
