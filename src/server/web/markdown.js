// A small Markdown renderer for a language model's answers, and a code highlighter.
//
// The model's text is untrusted: every character of it is escaped before a tag is added, so the
// only markup in the output is the tags written here. Link targets are limited to http(s), mailto
// and page-relative addresses. Unclosed constructs (a code fence still streaming in) render as if
// they were closed at the end, so a half-received answer looks like the finished one.

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// ---- Block structure --------------------------------------------------------------------------

const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
const RULE = /^ {0,3}([-*_])([ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?/;
const LIST_ITEM = /^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;

const isBlank = (line) => line === undefined || /^[ \t]*$/.test(line);
const indentOf = (line) => line.match(/^[ \t]*/)[0].replace(/\t/g, '    ').length;
const startsBlock = (line) =>
  FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
  LIST_ITEM.test(line);

// Markdown source -> HTML. NUL is replaced because the inline pass uses it as a marker.
export function renderMarkdown(source) {
  const text = String(source).replace(/\r\n?/g, '\n').replace(/\0/g, '\uFFFD');
  return renderBlocks(text.split('\n'));
}

function renderBlocks(lines) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (isBlank(line)) i += 1;
    else if (FENCE.test(line)) i = codeBlock(lines, i, out);
    else if (HEADING.test(line)) i = heading(lines, i, out);
    else if (RULE.test(line)) { out.push('<hr>'); i += 1; }
    else if (QUOTE.test(line)) i = blockquote(lines, i, out);
    else if (LIST_ITEM.test(line)) i = list(lines, i, out);
    else i = paragraph(lines, i, out);
  }
  return out.join('');
}

// A fenced block runs to a closing fence of the same character, at least as long, or to the end.
function codeBlock(lines, i, out) {
  const [, fence, lang] = lines[i].match(FENCE);
  const body = [];
  let j = i + 1;
  const closing = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}[ \\t]*$`);
  while (j < lines.length && !closing.test(lines[j])) body.push(lines[j++]);
  out.push(codeBlockHtml(body.join('\n'), lang));
  return j + 1;
}

function codeBlockHtml(code, lang) {
  const label = lang ? escapeHtml(lang) : 'code';
  const langClass = lang ? ` class="language-${escapeHtml(lang)}"` : '';
  return `<div class="codeblock"><div class="codeblock-head"><span>${label}</span>` +
    '<button type="button" class="copy-code">Copy</button></div>' +
    `<pre><code${langClass}>${highlight(code, lang)}</code></pre></div>`;
}

function heading(lines, i, out) {
  const [, hashes, text] = lines[i].match(HEADING);
  out.push(`<h${hashes.length}>${inline(text)}</h${hashes.length}>`);
  return i + 1;
}

function blockquote(lines, i, out) {
  const body = [];
  // Quoted lines, and unquoted ones that continue a quoted paragraph.
  const inQuote = (line) => !isBlank(line) && (QUOTE.test(line) || !startsBlock(line));
  while (i < lines.length && inQuote(lines[i])) body.push(lines[i++].replace(QUOTE, ''));
  out.push(`<blockquote>${renderBlocks(body)}</blockquote>`);
  return i;
}

// Consecutive lines up to a blank line or another block; line breaks are kept (<br>), as a chat
// answer's line breaks (a poem, an address) are meant.
function paragraph(lines, i, out) {
  const body = [lines[i]];
  i += 1;
  while (i < lines.length && !isBlank(lines[i]) && !startsBlock(lines[i])) body.push(lines[i++]);
  out.push(`<p>${inline(body.map((l) => l.trim()).join('\n'))}</p>`);
  return i;
}

// A list of items of one kind (bulleted or numbered). An item holds its first line, the lines
// that continue it, and the lines indented under it, which are blocks of their own (nested lists,
// code); blank lines between items keep the list going.
function list(lines, i, out) {
  const first = lines[i].match(LIST_ITEM);
  const ordered = /\d/.test(first[2]);
  const baseIndent = indentOf(first[1]);
  const items = [];
  while (i < lines.length) {
    const m = lines[i].match(LIST_ITEM);
    if (!m || /\d/.test(m[2]) !== ordered || indentOf(m[1]) > baseIndent + 1) break;
    const contentIndent = indentOf(m[1]) + m[2].length + 1;
    const text = [m[3]];
    const nested = [];
    i += 1;
    while (i < lines.length && !isBlank(lines[i]) && !startsBlock(lines[i])) {
      text.push(lines[i++].trim());
    }
    const nestedIndent = Math.min(contentIndent, baseIndent + 2);
    while (i < lines.length) {
      const line = lines[i];
      if (isBlank(line)) {
        // Only an indented line after the blank one continues this item.
        if (isBlank(lines[i + 1]) || indentOf(lines[i + 1]) < nestedIndent) break;
        nested.push('');
      } else if (indentOf(line) >= nestedIndent) {
        const dedent = (ws) => ' '.repeat(Math.max(0, indentOf(ws) - contentIndent));
        nested.push(line.replace(/^[ \t]+/, dedent));
      } else {
        break;
      }
      i += 1;
    }
    items.push({ start: parseInt(m[2], 10), text: text.join('\n'), nested });
    let next = i;
    while (isBlank(lines[next]) && next < lines.length) next += 1;
    const following = next < lines.length ? lines[next].match(LIST_ITEM) : null;
    const sameList = following && /\d/.test(following[2]) === ordered &&
      indentOf(following[1]) <= baseIndent + 1;
    if (!sameList) break;
    i = next;
  }
  const tag = ordered ? 'ol' : 'ul';
  const start = ordered && items[0].start !== 1 ? ` start="${items[0].start}"` : '';
  const body = items.map((item) => `<li>${inline(item.text)}${renderBlocks(item.nested)}</li>`);
  out.push(`<${tag}${start}>${body.join('')}</${tag}>`);
  return i;
}

// ---- Inline markup ----------------------------------------------------------------------------

const CODE_SPAN = /(`+)([^`][\s\S]*?)\1(?!`)/g;
const LINK = /\[([^\]\n]+)\]\(([^\s()]+)\)/g;
// A bare address ends before a held marker (NUL): a code span or link must never land in an href.
const BARE_URL = /\bhttps?:\/\/[^\s<>"'`\0]*[^\s<>"'`\0.,:;!?)\]]/g;

// Only web and mail addresses, or addresses without a scheme (relative to the page). Control
// characters are refused: browsers drop them, which could turn "\x01javascript:" into a scheme,
// and NUL marks a held code span, whose HTML must not end up inside the address.
export function isSafeUrl(url) {
  if (/[\u0000-\u0020\u007f]/.test(url)) return false;
  if (/^(https?:|mailto:)/i.test(url)) return true;
  return !/^[^/?#]*:/.test(url);
}

// Code spans and links are set aside first (as NUL-delimited markers), so that emphasis never
// reaches inside them, then everything left is escaped and emphasis applied.
function inline(text) {
  const held = [];
  const hold = (html) => `\0${held.push(html) - 1}\0`;
  let rest = text.replace(CODE_SPAN, (_, ticks, code) => hold(`<code>${escapeHtml(code)}</code>`));
  rest = rest.replace(LINK, (whole, label, url) =>
    isSafeUrl(url) ? hold(linkHtml(url, emphasis(escapeHtml(label)))) : whole);
  rest = rest.replace(BARE_URL, (url) => hold(linkHtml(url, escapeHtml(url))));
  let html = emphasis(escapeHtml(rest)).replace(/\n/g, '<br>');
  // A link's label may itself hold a code span: markers nest two deep at most.
  for (let depth = 0; depth < 2; depth += 1) {
    html = html.replace(/\0(\d+)\0/g, (_, n) => held[Number(n)]);
  }
  return html;
}

function linkHtml(url, labelHtml) {
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${labelHtml}</a>`;
}

// Runs on escaped text, whose only special characters left are the emphasis markers themselves.
function emphasis(html) {
  return html
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, '$1<strong>$2</strong>')
    .replace(/\*(?=[^\s*])([^*]*?[^\s*])\*/g, '<em>$1</em>')
    .replace(/(^|[^\w])_(?=[^\s_])([^_]*?[^\s_])_(?!\w)/g, '$1<em>$2</em>')
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>');
}

// ---- Code highlighting ------------------------------------------------------------------------

const words = (list) => new Set(list.split(' '));

const C_FAMILY = 'auto bool break case catch char class const constexpr continue default ' +
  'delete do double else enum explicit extern false final float for friend goto if import ' +
  'inline int long namespace new noexcept nullptr operator override package private protected ' +
  'public return short signed sizeof static struct super switch template this throw throws ' +
  'true try typedef typename union unsigned using var virtual void volatile while null ' +
  'interface extends implements string';

// line: line-comment openers; block: block comments (and Python's triple-quoted strings, which
// look the same); quotes: single-line string delimiters; backtick: multi-line `template` strings.
const LANGUAGES = {
  c: { line: ['//'], block: ['/*'], quotes: `"'`, keywords: words(C_FAMILY) },
  js: {
    line: ['//'], block: ['/*'], quotes: `"'`, backtick: true,
    keywords: words('async await break case catch class const continue debugger default delete ' +
      'do else export extends false finally for from function if import in instanceof let new ' +
      'null of return static super switch this throw true try typeof undefined var void while ' +
      'yield interface type enum implements readonly'),
  },
  python: {
    line: ['#'], block: ['"""', "'''"], quotes: `"'`,
    keywords: words('and as assert async await break class continue def del elif else except ' +
      'False finally for from global if import in is lambda None nonlocal not or pass raise ' +
      'return self True try while with yield match case'),
  },
  rust: {
    line: ['//'], block: ['/*'], quotes: '"',
    keywords: words('as async await break const continue crate dyn else enum extern false fn ' +
      'for if impl in let loop match mod move mut pub ref return self Self static struct super ' +
      'trait true type unsafe use where while Some None Ok Err'),
  },
  go: {
    line: ['//'], block: ['/*'], quotes: `"'`, backtick: true,
    keywords: words('break case chan const continue default defer else fallthrough false for ' +
      'func go goto if import interface map nil package range return select struct switch true ' +
      'type var'),
  },
  shell: {
    line: ['#'], block: [], quotes: `"'`,
    keywords: words('if then else elif fi for while until do done case esac function in return ' +
      'export local readonly set unset exit echo cd source'),
  },
  sql: {
    line: ['--'], block: ['/*'], quotes: `"'`, caseInsensitive: true,
    keywords: words('select from where insert into values update set delete create table drop ' +
      'alter join left right inner outer on group by order having limit and or not null as ' +
      'distinct union all primary key index view with case when then else end is in like ' +
      'between'),
  },
  json: { line: [], block: [], quotes: '"', keywords: words('true false null') },
};

const ALIASES = {
  c: 'c', h: 'c', cpp: 'c', 'c++': 'c', cc: 'c', cxx: 'c', hpp: 'c', java: 'c', kotlin: 'c',
  cs: 'c', csharp: 'c', swift: 'c', js: 'js', javascript: 'js', mjs: 'js', jsx: 'js', ts: 'js',
  typescript: 'js', tsx: 'js', py: 'python', python: 'python', python3: 'python', rs: 'rust',
  rust: 'rust', go: 'go', golang: 'go', sh: 'shell', bash: 'shell', shell: 'shell', zsh: 'shell',
  console: 'shell', sql: 'sql', json: 'json',
};

// A fence without a language (or an unknown one) gets C-like comments and strings, keywords off,
// since it is as likely to be prose or output as code.
const GENERIC = { line: ['//'], block: ['/*'], quotes: '"', keywords: new Set() };

const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const compiled = new Map();

// One regular expression per language: comment | string | number | word.
function tokenPattern(spec) {
  const comments = spec.line.map((open) => `${reEscape(open)}[^\\n]*`);
  for (const open of spec.block) {
    const close = open === '/*' ? '*/' : open;
    comments.push(`${reEscape(open)}[\\s\\S]*?(?:${reEscape(close)}|$)`);  // unclosed: to the end
  }
  const strings = [...spec.quotes].map((q) => `${q}(?:[^${q}\\\\\\n]|\\\\.)*${q}`);
  if (spec.backtick) strings.push('`(?:[^`\\\\]|\\\\[\\s\\S])*(?:`|$)');
  const number = '\\b(?:0[xX][\\da-fA-F_]+|\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b';
  const alternatives = [
    comments.length ? comments.join('|') : '(?!)',
    strings.length ? strings.join('|') : '(?!)',
    number,
    '[A-Za-z_$][\\w$]*',
  ];
  return new RegExp(alternatives.map((a) => `(${a})`).join('|'), 'g');
}

// Code -> HTML with <span class="tok-kw|tok-str|tok-com|tok-num">; every character escaped.
export function highlight(code, lang) {
  const name = ALIASES[String(lang || '').toLowerCase()];
  const spec = name ? LANGUAGES[name] : GENERIC;
  if (!compiled.has(spec)) compiled.set(spec, tokenPattern(spec));
  const pattern = compiled.get(spec);
  pattern.lastIndex = 0;
  let html = '';
  let last = 0;
  for (let m = pattern.exec(code); m !== null; m = pattern.exec(code)) {
    if (m[0] === '') { pattern.lastIndex += 1; continue; }
    html += escapeHtml(code.slice(last, m.index));
    const kind = m[1] ? 'com' : m[2] ? 'str' : m[3] ? 'num' : isKeyword(spec, m[4]) ? 'kw' : null;
    html += kind ? `<span class="tok-${kind}">${escapeHtml(m[0])}</span>` : escapeHtml(m[0]);
    last = m.index + m[0].length;
  }
  return html + escapeHtml(code.slice(last));
}

function isKeyword(spec, word) {
  return spec.keywords.has(spec.caseInsensitive ? word.toLowerCase() : word);
}
