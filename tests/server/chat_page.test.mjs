// The chat page at `/` of `bottega serve`, in a real browser: Debian's Chromium, headless, driven by
// playwright-core. What a user depends on is checked as a user sees it: a message sent at
// temperature 0 shows exactly the answer the API gives for the same messages (greedy is
// deterministic), a missing key is asked for, the stop button ends a long answer, and nothing the
// model writes becomes markup. Run by ctest: node --test tests/server/chat_page.test.mjs
// (BOTTEGA_BIN, BOTTEGA_SHARED set; BOTTEGA_CHROMIUM overrides /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServe } from './serve_process.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'npm', 'package.json'));
const { chromium } = require('playwright-core');

const BIN = process.env.BOTTEGA_BIN;
const SHARED = process.env.BOTTEGA_SHARED ?? path.join(here, '..', '..', '..', 'shared');
const MODEL = path.join(SHARED, 'models', 'aidreams260K.gguf');
const LONG_VOCAB = path.join(SHARED, 'vocab', 'ggml-vocab-llama-spm.gguf');
const CHROMIUM = process.env.BOTTEGA_CHROMIUM ?? '/usr/bin/chromium';
const KEY = 'chat-page-key-42';
// A loaded 2-core CI machine runs the server, the browser and this file at once: waits are long,
// and every wait is for a condition, never for a fixed time.
const WAIT = { timeout: 90_000 };
const TEST = { timeout: 240_000 };

// aidreams260K is not a chat model: under a chat template's markers it writes blank lines. A
// template that passes the messages' text through makes it continue the text in prose, whose
// rendering is easy to compare with the API's answer.
const PLAIN_TEMPLATE = '{% for message in messages %}{{ message.content }}{% endfor %}';

// Starts `bottega serve` on a free port and resolves with its base URL once it listens.
function startServer(model, args) {
  const server = startServe(model, args);
  return { ...server, ready: server.ready.then((port) => `http://127.0.0.1:${port}`) };
}

async function stopServer(server) {
  if (!server || server.child.exitCode !== null) return;
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  assert.equal(code, 0, 'the server exits 0 on SIGTERM');
}

let dir;
let browser;
let main;      // aidreams260K behind an API key
let mainBase;
let long;      // a random-weight model whose greedy answers never end early, no key
let longBase;

before(async () => {
  assert.ok(BIN, 'BOTTEGA_BIN must name the bottega binary');
  // Fail, never skip: a CI without the browser must not pass this test silently.
  assert.ok(existsSync(CHROMIUM),
    `Chromium is missing at ${CHROMIUM}: install the Debian package with scripts/setup (as root), ` +
    'or point BOTTEGA_CHROMIUM at a Chromium binary');
  dir = mkdtempSync(path.join(os.tmpdir(), 'bottega-chat-page-'));
  const template = path.join(dir, 'plain.jinja');
  writeFileSync(template, PLAIN_TEMPLATE);
  // Random weights over a 32000-token vocabulary: the end-of-text token is almost never the
  // likeliest, so a greedy answer runs to max_tokens: a long answer to stop.
  const longModel = path.join(dir, 'long.gguf');
  const synth = spawnSync(BIN, ['synth', '--arch', 'llama', '--dim', '128', '--layers', '2', '--heads', '4',
    '--ffn', '256', '--ctx', '4096', '--type', 'Q8_0', '--vocab-from', LONG_VOCAB, '-o', longModel],
  { encoding: 'utf8' });
  assert.equal(synth.status, 0, synth.stderr);

  main = startServer(MODEL, ['-c', '4096', '--parallel', '4', '--api-key', KEY, '--chat-template', template]);
  long = startServer(longModel, ['-c', '4096', '--parallel', '2']);
  [mainBase, longBase] = await Promise.all([main.ready, long.ready]);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
});

after(async () => {
  await browser?.close();
  await Promise.all([stopServer(main), stopServer(long)]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- Helpers ----------------------------------------------------------------------------------

// A fresh browser profile (empty localStorage) on the page; uncaught page errors fail the test.
async function openPage(t, base) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  t.after(async () => {
    await context.close();
    assert.deepEqual(errors, [], 'the page threw');
  });
  await page.goto(`${base}/`);
  await waitReady(page);
  return page;
}

const waitReady = (page) =>
  page.waitForFunction(() => document.body.dataset.state === 'ready', null, WAIT);

// Fills fields of the settings panel (opened first: hidden fields cannot be typed into).
async function setSettings(page, fields) {
  await page.locator('#settings').evaluate((details) => { details.open = true; });
  for (const [id, value] of Object.entries(fields)) await page.fill(`#${id}`, String(value));
}

// Sends a message and resolves once the page is ready again, with the request the page made.
async function sendMessage(page, text) {
  const request = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'), WAIT);
  const answers = await page.locator('.message.assistant').count();
  await page.fill('#prompt', text);
  await page.press('#prompt', 'Enter');
  const sent = await request;
  await page.waitForFunction((n) => document.body.dataset.state === 'ready' &&
    document.querySelectorAll('.message.assistant').length > n, answers, WAIT);
  return JSON.parse(sent.postData());
}

async function api(base, endpoint, body, key = KEY) {
  const res = await fetch(`${base}${endpoint}`, {
    method: body ? 'POST' : 'GET',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

async function metric(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

// What a reader sees: the text with runs of white space as one space.
const visible = (text) => text.replace(/\s+/g, ' ').trim();

async function answerShown(page, index) {
  return page.locator('.message.assistant .content').nth(index).innerText();
}

async function storedConversations(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('bottega.conversations')));
}

// ---- Tests ------------------------------------------------------------------------------------

test('the page and its files are served without the key, with their types; the API still needs it', TEST, async () => {
  const files = { '/': 'text/html', '/index.html': 'text/html', '/app.js': 'text/javascript',
    '/markdown.js': 'text/javascript', '/sse.js': 'text/javascript', '/style.css': 'text/css' };
  for (const [file, type] of Object.entries(files)) {
    const res = await fetch(`${mainBase}${file}`);
    assert.equal(res.status, 200, file);
    assert.equal(res.headers.get('content-type'), `${type}; charset=utf-8`, file);
    assert.match(res.headers.get('content-security-policy'), /default-src 'none'/, file);
    assert.ok((await res.text()).length > 100, file);
  }
  for (const endpoint of ['/v1/models', '/metrics', '/app.js/', '/appXjs', '/other.html']) {
    assert.equal((await fetch(`${mainBase}${endpoint}`)).status, 401, endpoint);
  }
  const post = await fetch(`${mainBase}/`, { method: 'POST', body: '{}' });
  assert.equal(post.status, 401, 'only GET of the page is open');
});

test('without the key the page says that the API key is needed', TEST, async (t) => {
  const page = await openPage(t, mainBase);
  const alert = page.locator('#alert');
  await alert.waitFor({ state: 'visible' });
  assert.match(await alert.innerText(), /API key/);
  assert.equal(await alert.getAttribute('role'), 'alert');
  assert.equal(await page.locator('#api-key').isVisible(), true, 'the key field is shown');

  // Sending anyway gets the same message, and the question waits in the input box.
  await page.fill('#prompt', 'Echoes of');
  await page.press('#prompt', 'Enter');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' &&
    document.querySelector('#prompt').value === 'Echoes of', null, WAIT);
  assert.match(await alert.innerText(), /API key/);
  assert.equal(await page.locator('.message').count(), 0);

  // With a wrong key too; with the right one the message goes away.
  await setSettings(page, { 'api-key': 'wrong' });
  await page.click('#send');
  await page.waitForFunction(() => document.body.dataset.state === 'ready' &&
    document.querySelector('#prompt').value === 'Echoes of' && !document.querySelector('#alert').hidden,
  null, WAIT);
  assert.match(await alert.innerText(), /API key/);
  await setSettings(page, { 'api-key': KEY });
  await alert.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#model-name').innerText(), 'aidreams260K.gguf');
});

test('a message at temperature 0 shows the answer the API gives, streamed, with speed and context use', TEST, async (t) => {
  const page = await openPage(t, mainBase);
  await setSettings(page, { 'api-key': KEY, temperature: 0, 'max-tokens': 48 });

  const response = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'), WAIT);
  const sent = await sendMessage(page, 'Echoes of');
  assert.equal((await response).headers()['content-type'], 'text/event-stream', 'streamed');
  const messages = [{ role: 'user', content: 'Echoes of' }];
  assert.deepEqual(sent.messages, messages);
  assert.equal(sent.stream, true);
  assert.deepEqual(sent.stream_options, { include_usage: true });
  assert.equal(sent.temperature, 0);
  assert.equal(sent.max_tokens, 48);
  assert.equal(sent.model, 'aidreams260K.gguf');

  const expected = await api(mainBase, '/v1/chat/completions', { messages, temperature: 0, max_tokens: 48 });
  const answer = expected.choices[0].message.content;
  assert.ok(answer.trim().length > 20, `a real answer: ${JSON.stringify(answer)}`);
  // Plain prose, so the text shown is the text itself (no Markdown marks to disappear).
  assert.doesNotMatch(answer, /[*_`#<>[\]~]/, 'the fixture answer has no Markdown');
  assert.equal(visible(await answerShown(page, 0)), visible(answer));
  assert.equal((await storedConversations(page))[0].messages[1].content, answer, 'stored exactly');

  const { prompt_tokens: prompt, completion_tokens: completion } = expected.usage;
  assert.equal(completion, 48);
  assert.match(await page.locator('#speed').innerText(), /^\d+(\.\d)? tokens\/s \(48 tokens\)$/);
  const used = prompt + completion;
  assert.equal(await page.locator('#context-text').innerText(),
    `context ${used} / 4096 tokens (${Math.round((100 * used) / 4096)}%)`);
  assert.match(await page.locator('.message.assistant .message-footer').innerText(), /48 tokens · .* tokens\/s/);

  // A second turn sends the conversation so far.
  const sent2 = await sendMessage(page, 'Contrast');
  const messages2 = [...messages, { role: 'assistant', content: answer }, { role: 'user', content: 'Contrast' }];
  assert.deepEqual(sent2.messages, messages2);
  const expected2 = await api(mainBase, '/v1/chat/completions', { messages: messages2, temperature: 0, max_tokens: 48 });
  const answer2 = expected2.choices[0].message.content;
  assert.doesNotMatch(answer2, /[*_`#<>[\]~]/, 'the fixture answer has no Markdown');
  assert.equal(visible(await answerShown(page, 1)), visible(answer2));
  const used2 = expected2.usage.prompt_tokens + expected2.usage.completion_tokens;
  assert.match(await page.locator('#context-text').innerText(), new RegExp(`^context ${used2} / 4096 tokens`));
});

test('conversations: new, switch, delete, and kept across a reload', TEST, async (t) => {
  const page = await openPage(t, mainBase);
  await setSettings(page, { 'api-key': KEY, temperature: 0, 'max-tokens': 8 });
  await sendMessage(page, 'The machine');
  await page.click('#new-chat');
  assert.equal(await page.locator('.message').count(), 0, 'a new conversation is empty');
  await sendMessage(page, 'Once upon a time');

  const titles = () => page.locator('#conversations .conversation').allInnerTexts();
  assert.deepEqual(await titles(), ['Once upon a time', 'The machine']);
  await page.click('#conversations .conversation >> text=The machine');
  assert.equal(await page.locator('.message.user .content').innerText(), 'The machine');
  assert.equal(await page.locator('#conversations [aria-current="true"]').innerText(), 'The machine');

  await page.reload();
  await waitReady(page);
  assert.deepEqual(await titles(), ['Once upon a time', 'The machine']);
  assert.equal(await page.locator('.message.user .content').innerText(), 'The machine', 'still open');
  assert.equal(await page.locator('#temperature').inputValue(), '0', 'parameters are kept');

  await page.click('button[aria-label="Delete conversation: The machine"]');
  assert.deepEqual(await titles(), ['Once upon a time']);
  assert.equal(await page.locator('.message.user .content').innerText(), 'Once upon a time');
  assert.equal((await storedConversations(page)).length, 1);
});

test('the stop button ends a long answer early and the page is ready again', TEST, async (t) => {
  const page = await openPage(t, longBase);
  assert.equal(await page.locator('#alert').isHidden(), true, 'a server without a key needs none');
  await setSettings(page, { temperature: 0, 'max-tokens': 4000 });
  const disconnects = 'bottega_client_disconnects_total{endpoint="/v1/chat/completions"}';
  const before = await metric(longBase, disconnects);

  await page.fill('#prompt', 'Hello');
  await page.press('#prompt', 'Enter');
  // Stop as soon as the answer shows: a 4000-token answer is far from done by then.
  await page.waitForFunction(() => document.body.dataset.state === 'busy' &&
    document.querySelector('.message.assistant .content')?.textContent.length > 0, null, WAIT);
  await page.click('#stop');
  await waitReady(page);
  assert.equal(await page.locator('#stop').isHidden(), true);
  assert.equal(await page.locator('#send').isEnabled(), true);
  assert.match(await page.locator('.message.assistant .message-footer').innerText(), /stopped/);
  const partial = (await storedConversations(page))[0].messages[1].content;
  assert.ok(partial.length > 0, 'the text received so far stays');

  // The server saw the client go and freed the sequence.
  const deadline = Date.now() + WAIT.timeout;
  while ((await metric(longBase, disconnects)) < before + 1 || (await metric(longBase, 'bottega_running_sequences')) > 0) {
    assert.ok(Date.now() < deadline, 'the server cancels the stopped answer');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const full = await api(longBase, '/v1/chat/completions', {
    messages: [{ role: 'user', content: 'Hello' }], temperature: 0, max_tokens: 4000 });
  assert.equal(full.choices[0].finish_reason, 'length', 'the answer would have run to max_tokens');
  assert.ok(partial.length < full.choices[0].message.content.length, 'stopped early');
  assert.ok(full.choices[0].message.content.startsWith(partial), 'what was shown is the start of it');

  // The page works on: the next answer completes.
  await setSettings(page, { 'max-tokens': 5 });
  await sendMessage(page, 'Again');
  assert.match(await page.locator('.message.assistant .message-footer').nth(1).innerText(), /^5 tokens/);
});

test('Markdown from the model is rendered with its HTML escaped', TEST, async (t) => {
  const page = await openPage(t, mainBase);
  // Each case renders into a detached element; the checks read the DOM the browser built.
  const render = (source) => page.evaluate((md) => {
    const div = document.createElement('div');
    div.innerHTML = window.bottegaChat.renderMarkdown(md);
    const all = [...div.querySelectorAll('*')];
    return {
      html: div.innerHTML,
      text: div.textContent,
      tags: all.map((e) => e.tagName.toLowerCase()),
      attributes: all.flatMap((e) => [...e.attributes].map((a) => `${e.tagName.toLowerCase()}.${a.name}=${a.value}`)),
    };
  }, source);
  const allowedTags = new Set(['p', 'br', 'strong', 'em', 'del', 'code', 'pre', 'a', 'h1', 'h2', 'h3', 'h4',
    'h5', 'h6', 'ul', 'ol', 'li', 'blockquote', 'hr', 'div', 'span', 'button']);
  const safe = (r) => {
    for (const tag of r.tags) assert.ok(allowedTags.has(tag), `unexpected <${tag}> in ${r.html}`);
    for (const a of r.attributes) assert.doesNotMatch(a, /\.on|javascript:/i, `unexpected ${a}`);
  };

  const hostile = [
    '<script>window.__pwned = 1</script>',
    '<img src=x onerror="window.__pwned = 1">',
    '**<b>bold</b>** and `<i>code</i>`',
    '# <svg onload=alert(1)>',
    '- <iframe src="https://example.com"></iframe>',
    '[click](javascript:alert(1)) [me](JAVASCRIPT:alert(1)) [x](\u0001javascript:alert(1))',
    '[a](https://example.com/"onmouseover="alert(1))',
    '[b](https://example.com/"onmouseover="x) https://example.com/"onclick="x',
    '```html\n<script>alert(1)</script>\n```',
    '> <style>body{display:none}</style>',
    'tail \u0000 0 \u0000 nul markers',
    'https://x.y/`<b>`[l](onmouseover=f//)',  // held code or link HTML must not land in an address
  ];
  for (const source of hostile) {
    const r = await render(source);
    safe(r);
    assert.ok(!r.tags.includes('script') && !r.tags.includes('img'), r.html);
  }
  assert.equal((await render('<script>x</script>')).text, '<script>x</script>', 'shown as text');
  assert.deepEqual((await render('https://x.y/`<b>`')).tags, ['p', 'a', 'code'], 'the address ends at the code');
  assert.deepEqual((await render('[click](javascript:alert(1))')).tags, ['p'], 'no link to javascript:');
  assert.deepEqual((await render('[a](https://example.com/"onmouseover="x)')).attributes, [
    'a.href=https://example.com/"onmouseover="x', 'a.target=_blank', 'a.rel=noopener noreferrer'],
  'a quote stays inside the link address');

  const md = await render('# Title\n\nSome **bold**, *italic*, `code` and a [link](https://example.com).\n\n' +
    '- one\n- two\n  - nested\n\n1. first\n2. second\n\n```js\nconst s = "<b>"; // note\nlet n = 42;\n```\n');
  safe(md);
  assert.match(md.html, /^<h1>Title<\/h1><p>Some <strong>bold<\/strong>, <em>italic<\/em>, <code>code<\/code> and a <a href="https:\/\/example.com"/);
  assert.match(md.html, /<ul><li>one<\/li><li>two<ul><li>nested<\/li><\/ul><\/li><\/ul><ol><li>first<\/li><li>second<\/li><\/ol>/);
  assert.match(md.html, /<span class="tok-kw">const<\/span> s = <span class="tok-str">"&lt;b&gt;"<\/span>; <span class="tok-com">\/\/ note<\/span>/);
  assert.match(md.html, /<span class="tok-kw">let<\/span> n = <span class="tok-num">42<\/span>/);
  const streaming = await render('Look:\n```python\n# comment\ndef f(x):\n    return "x"');
  assert.match(streaming.html, /<code class="language-python"><span class="tok-com"># comment<\/span>\n<span class="tok-kw">def<\/span> f\(x\)/,
    'an unclosed fence (still streaming) is already code');

  // End to end through the page, with a streamed answer of hostile Markdown (a canned response:
  // aidreams260K does not write HTML), and reasoning deltas as gpt-oss sends them.
  await setSettings(page, { 'api-key': KEY });
  const chunk = (delta, extra = {}) => `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
  const body = chunk({ role: 'assistant', content: '' }) +
    chunk({ reasoning_content: 'The user wants <b>HTML</b>; ' }) + chunk({ reasoning_content: 'think first.' }) +
    chunk({ content: 'Here: <img src=x onerror="window.__pwned = 1">\n\n' }) +
    chunk({ content: '```js\nconst x = 1;\n```' }) +
    `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 } })}\n\n` +
    'data: [DONE]\n\n';
  await page.route('**/v1/chat/completions', (route) =>
    route.fulfill({ status: 200, contentType: 'text/event-stream', body }));
  await sendMessage(page, 'Show me HTML');
  const reasoning = page.locator('.message.assistant .reasoning');
  assert.equal(await reasoning.isVisible(), true);
  assert.equal(await reasoning.locator('summary').innerText(), 'Reasoning');
  assert.equal(await reasoning.evaluate((d) => d.open), false, 'closed once the answer began');
  await reasoning.locator('summary').click();
  assert.equal(visible(await reasoning.locator('.reasoning-body').innerText()), 'The user wants <b>HTML</b>; think first.');
  const content = page.locator('.message.assistant .content');
  assert.match(await content.innerText(), /^Here: <img src=x onerror="window.__pwned = 1">/);
  assert.equal(await content.locator('img').count(), 0);
  assert.equal(await content.locator('.tok-kw').innerText(), 'const');
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.match(await page.locator('#context-text').innerText(), /^context 30 \/ 4096 tokens/);
});

test('server-sent events are read whatever pieces the bytes arrive in', TEST, async (t) => {
  const page = await openPage(t, mainBase);
  const stream = ': keep-alive\r\ndata: {"a":1}\r\n\r\ndata: first\ndata:second\n\nid: 7\ndata: é€😀\r\r' +
    'data: [DONE]\n\ndata: not closed by a blank line';
  const results = await page.evaluate(async (text) => {
    const bytes = new TextEncoder().encode(text);
    const out = [];
    for (const size of [1, 2, 3, 5, 7, 64, bytes.length]) {
      const body = new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += size) controller.enqueue(bytes.slice(i, i + size));
          controller.close();
        },
      });
      const events = [];
      for await (const event of window.bottegaChat.serverSentEvents(body)) events.push(event);
      out.push({ size, events });
    }
    return out;
  }, stream);
  for (const { size, events } of results) {
    assert.deepEqual(events, ['{"a":1}', 'first\nsecond', 'é€😀', '[DONE]'], `pieces of ${size} bytes`);
  }
});

// The same renderer in node (markdown.js needs no DOM), on many random mixes of Markdown marks,
// HTML and addresses: its output holds only its own tags and attributes, and every `<` or `>` of
// the input arrives escaped.
test('the Markdown renderer writes only its own markup, whatever the model writes', TEST, async () => {
  const { renderMarkdown } = await import('../../src/server/web/markdown.js');
  const pieces = ['*', '**', '_', '__', '`', '```', '```js', '~~~', '~~', '\n', '\n\n', ' ', '  ', '\t',
    '# ', '- ', '1. ', '> ', '---', '[', ']', '(', ')', 'https://x.y/a_b', 'javascript:', 'x:', '<', '>',
    '&', '"', "'", '=', 'on', 'a', 'word', '\r', '\0', '😀', 'é', '<script>', '<img src=x onerror=f()>'];
  const tags = new Set(['p', 'br', 'strong', 'em', 'del', 'code', 'pre', 'a', 'h1', 'h2', 'h3', 'h4',
    'h5', 'h6', 'ul', 'ol', 'li', 'blockquote', 'hr', 'div', 'span', 'button']);
  const attributes = new Set(['href', 'target', 'rel', 'class', 'type', 'start']);
  const TAG = /<\/?([a-z0-9]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*>/g;
  let seed = 42;
  const random = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  for (let i = 0; i < 5000; i += 1) {
    let source = '';
    for (let n = random(60); n > 0; n -= 1) source += pieces[random(pieces.length)];
    const html = renderMarkdown(source);
    const text = html.replace(TAG, (_, tag, attrs) => {
      assert.ok(tags.has(tag), `<${tag}> from ${JSON.stringify(source)}`);
      for (const [, name, value] of attrs.matchAll(/([a-z-]+)="([^"]*)"/g)) {
        assert.ok(attributes.has(name), `${name}= from ${JSON.stringify(source)}`);
        if (name === 'href') assert.match(value, /^(https?:|mailto:|[^:]*$)/, JSON.stringify(source));
      }
      return '';
    });
    assert.doesNotMatch(text, /[<>\0]/, `unescaped text from ${JSON.stringify(source)}: ${html}`);
  }
});

