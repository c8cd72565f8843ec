// The chat page of `bottega serve`: conversations kept in localStorage, answers streamed from
// POST /v1/chat/completions (server-sent events parsed here), a stop button, the model and its
// sampling parameters, and the speed and context use of the last answer. No build step, no
// library: this file, markdown.js, sse.js, index.html and style.css are the whole page.

import { highlight, renderMarkdown } from './markdown.js';
import { serverSentEvents } from './sse.js';

const $ = (id) => document.getElementById(id);

const KEYS = {
  apiKey: 'bottega.apiKey',
  params: 'bottega.params',
  conversations: 'bottega.conversations',
  current: 'bottega.current',
};

const AUTH_MESSAGE = 'The server asks for an API key. Enter it under “Model and parameters” → ' +
  '“API key” (the key bottega serve was started with, --api-key); it is kept in this browser ' +
  'only.';

const state = {
  conversations: [],    // [{id, title, messages: [{role, content, reasoning?, stats?, note?}]}]
  currentId: null,
  maxModelLen: null,    // the selected model's context, from GET /v1/models
  controller: null,     // the AbortController of the answer streaming now, if any
};

// ---- Storage: localStorage may be full or disabled; the page still works for this visit ------

function load(key, fallback) {
  try {
    const value = localStorage.getItem(key);
    return value === null ? fallback : JSON.parse(value);
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    showAlert('This browser did not save the conversation (localStorage is full or disabled).');
  }
}

const saveConversations = () => {
  save(KEYS.conversations, state.conversations);
  save(KEYS.current, state.currentId);
};

// ---- Settings ---------------------------------------------------------------------------------

const PARAM_FIELDS = { system: 'system-prompt', temperature: 'temperature', top_p: 'top-p',
  max_tokens: 'max-tokens', seed: 'seed' };

function loadSettings() {
  $('api-key').value = load(KEYS.apiKey, '');
  const params = load(KEYS.params, {});
  for (const [name, id] of Object.entries(PARAM_FIELDS)) {
    if (typeof params[name] === 'string') $(id).value = params[name];
  }
}

function saveSettings() {
  save(KEYS.apiKey, $('api-key').value.trim());
  const params = {};
  for (const [name, id] of Object.entries(PARAM_FIELDS)) params[name] = $(id).value;
  save(KEYS.params, params);
}

// The sampling fields of a request; an empty or invalid field is left to the server's default.
function samplingParams() {
  const out = {};
  const number = (id, parse) => {
    const field = $(id);
    const value = parse(field.value);
    const valid = field.value.trim() !== '' && field.checkValidity() && Number.isFinite(value);
    return valid ? value : null;
  };
  const fields = [['temperature', 'temperature', parseFloat], ['top_p', 'top-p', parseFloat],
    ['max_tokens', 'max-tokens', (v) => parseInt(v, 10)], ['seed', 'seed', (v) => parseInt(v, 10)]];
  for (const [name, id, parse] of fields) {
    const value = number(id, parse);
    if (value !== null) out[name] = value;
  }
  return out;
}

function authHeaders() {
  const key = $('api-key').value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// ---- Messages to the user ---------------------------------------------------------------------

function showAlert(text, kind = 'error') {
  const alert = $('alert');
  alert.textContent = text;
  alert.dataset.kind = kind;
  alert.hidden = false;
}

function clearAlert() {
  $('alert').hidden = true;
  $('alert').textContent = '';
}

function showAuthNeeded() {
  showAlert(AUTH_MESSAGE, 'auth');
  $('settings').open = true;
  $('api-key').focus();
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The OpenAI error body's message, or the status line.
async function apiError(res) {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body?.error?.message) message = body.error.message;
  } catch { /* not JSON: keep the status line */ }
  return new ApiError(res.status, message);
}

// ---- Models -----------------------------------------------------------------------------------

async function loadModels() {
  try {
    const res = await fetch('v1/models', { headers: authHeaders() });
    if (res.status === 401) {
      showAuthNeeded();
      return false;
    }
    if (!res.ok) throw await apiError(res);
    const models = (await res.json()).data ?? [];
    const select = $('model');
    const previous = select.value;
    select.replaceChildren(...models.map((m) => new Option(m.id, m.id)));
    if (models.some((m) => m.id === previous)) select.value = previous;
    select.modelInfo = Object.fromEntries(models.map((m) => [m.id, m]));
    onModelChosen();
    if ($('alert').dataset.kind === 'auth') clearAlert();
    return true;
  } catch (error) {
    showAlert(`Cannot list the models: ${error.message}`);
    return false;
  }
}

function onModelChosen() {
  const select = $('model');
  const info = select.modelInfo?.[select.value];
  $('model-name').textContent = select.value;
  state.maxModelLen = Number.isInteger(info?.max_model_len) ? info.max_model_len : null;
  showStats(lastStats(currentConversation()));
}

// ---- Conversations ----------------------------------------------------------------------------

// The first words of the first question (whole characters: an emoji is two UTF-16 units).
const titleOf = (text) => Array.from(text.replace(/\s+/g, ' ').trim()).slice(0, 60).join('');
const newId = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
const currentConversation = () => state.conversations.find((c) => c.id === state.currentId);

// What localStorage held, without anything this page could not have written (another version,
// a hand edit): a broken entry must not stop the page from starting.
function validConversations(value) {
  if (!Array.isArray(value)) return [];
  const isMessage = (m) =>
    m && (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string';
  return value.filter((c) => c && typeof c.id === 'string' && typeof c.title === 'string' &&
    Array.isArray(c.messages) && c.messages.every(isMessage));
}

function newConversation() {
  if (currentConversation()?.messages.length === 0) {  // the open one is still empty: reuse it
    $('prompt').focus();
    return;
  }
  const conversation = { id: newId(), title: 'New chat', messages: [] };
  state.conversations.unshift(conversation);
  state.currentId = conversation.id;
  saveConversations();
  renderAll();
  $('prompt').focus();
}

function selectConversation(id) {
  state.currentId = id;
  saveConversations();
  renderAll();
}

function deleteConversation(id) {
  state.conversations = state.conversations.filter((c) => c.id !== id);
  if (state.currentId === id) state.currentId = state.conversations[0]?.id ?? null;
  if (!state.currentId) {
    newConversation();
    return;
  }
  saveConversations();
  renderAll();
}

function renderConversationList() {
  const busy = isBusy();
  const items = state.conversations.map((c) => {
    const li = document.createElement('li');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'conversation';
    open.textContent = c.title;
    open.title = c.title;
    open.disabled = busy;
    if (c.id === state.currentId) open.setAttribute('aria-current', 'true');
    open.addEventListener('click', () => selectConversation(c.id));
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'delete';
    remove.textContent = '×';
    remove.disabled = busy;
    remove.setAttribute('aria-label', `Delete conversation: ${c.title}`);
    remove.addEventListener('click', () => deleteConversation(c.id));
    li.append(open, remove);
    return li;
  });
  $('conversations').replaceChildren(...items);
  $('new-chat').disabled = busy;
}

// ---- Rendering messages -----------------------------------------------------------------------

// One message as an <article>: the user's text as typed (escaped by textContent), an answer as
// Markdown, its reasoning (gpt-oss) in a collapsible block of its own, and a footer line.
function messageElement(message) {
  const article = document.createElement('article');
  article.className = `message ${message.role}`;
  const role = document.createElement('div');
  role.className = 'role';
  role.textContent = message.role === 'user' ? 'You' : 'Assistant';
  const reasoning = document.createElement('details');
  reasoning.className = 'reasoning';
  reasoning.innerHTML = '<summary>Reasoning</summary><div class="reasoning-body"></div>';
  const content = document.createElement('div');
  content.className = 'content';
  const footer = document.createElement('div');
  footer.className = 'message-footer muted small';
  article.append(role, reasoning, content, footer);
  article.message = message;
  updateMessageElement(article);
  return article;
}

function updateMessageElement(article) {
  const message = article.message;
  const reasoning = article.querySelector('.reasoning');
  reasoning.hidden = !message.reasoning;
  if (message.reasoning) {
    article.querySelector('.reasoning-body').innerHTML = renderMarkdown(message.reasoning);
  }
  const content = article.querySelector('.content');
  if (message.role === 'user') content.textContent = message.content;
  else content.innerHTML = renderMarkdown(message.content);
  article.querySelector('.message-footer').textContent = footerText(message);
}

function footerText(message) {
  const parts = [];
  if (message.stats?.usage) {
    parts.push(`${message.stats.usage.completion_tokens} tokens`);
    const rate = message.stats.tokensPerSecond;
    if (rate) parts.push(`${formatRate(rate)} tokens/s`);
  }
  if (message.note) parts.push(message.note);
  return parts.join(' · ');
}

function renderMessages() {
  const conversation = currentConversation();
  const elements = (conversation?.messages ?? []).map(messageElement);
  $('messages').replaceChildren(...elements);
  $('messages').scrollTop = $('messages').scrollHeight;
}

function renderAll() {
  renderConversationList();
  renderMessages();
  showStats(lastStats(currentConversation()));
}

// ---- Statistics -------------------------------------------------------------------------------

const formatRate = (rate) => (rate >= 100 ? rate.toFixed(0) : rate.toFixed(1));

function lastStats(conversation) {
  const answers = (conversation?.messages ?? []).filter((m) => m.role === 'assistant' && m.stats);
  return answers.at(-1)?.stats ?? null;
}

// Generation speed and context use of the conversation's last complete answer.
function showStats(stats) {
  const usage = stats?.usage;
  $('speed').textContent = stats?.tokensPerSecond
    ? `${formatRate(stats.tokensPerSecond)} tokens/s (${usage.completion_tokens} tokens)` : '';
  const meter = $('context-meter');
  if (!usage) {
    $('context-text').textContent = '';
    meter.hidden = true;
    return;
  }
  const used = usage.prompt_tokens + usage.completion_tokens;
  if (state.maxModelLen) {
    const percent = Math.round((100 * used) / state.maxModelLen);
    $('context-text').textContent = `context ${used} / ${state.maxModelLen} tokens (${percent}%)`;
    meter.value = Math.min(1, used / state.maxModelLen);
    meter.hidden = false;
  } else {
    $('context-text').textContent = `context ${used} tokens`;
    meter.hidden = true;
  }
}

// ---- Streaming --------------------------------------------------------------------------------

// Streams one answer into `message`, calling onUpdate as text arrives. Resolves with the usage
// and timing; throws ApiError for an error status, AbortError when stopped.
async function streamAnswer(body, message, signal, onUpdate) {
  const started = performance.now();
  const res = await fetch('v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw await apiError(res);
  let firstToken = null;
  let lastToken = null;
  let textChunks = 0;
  let usage = null;
  let finishReason = null;
  for await (const data of serverSentEvents(res.body)) {
    if (data === '[DONE]') break;
    const chunk = JSON.parse(data);
    if (chunk.error) {
      throw new ApiError(500, chunk.error.message ?? 'The server failed mid-answer.');
    }
    const choice = chunk.choices?.[0];
    const delta = choice?.delta ?? {};
    if (delta.reasoning_content) {
      message.reasoning = (message.reasoning ?? '') + delta.reasoning_content;
    }
    if (delta.content) message.content += delta.content;
    if (delta.content || delta.reasoning_content) {
      lastToken = performance.now();
      firstToken ??= lastToken;
      textChunks += 1;
    }
    if (choice?.finish_reason) finishReason = choice.finish_reason;
    if (chunk.usage) usage = chunk.usage;
    onUpdate();
  }
  const ended = performance.now();
  return { usage, finishReason, started, firstToken, lastToken, textChunks, ended };
}

// Tokens per second of the generation: from the first token to the last, since the time before
// the first is the prompt's. When the text came in one burst (a proxy that buffers, a very short
// answer) that span says nothing, and the whole request's time is used instead.
function tokensPerSecond({ usage, started, firstToken, lastToken, textChunks, ended }) {
  const n = usage?.completion_tokens ?? 0;
  if (n <= 0) return null;
  const span = lastToken - firstToken;
  if (n > 1 && textChunks >= 2 && span >= 20) return ((n - 1) * 1000) / span;
  return ended > started ? (n * 1000) / (ended - started) : null;
}

function requestBody(conversation) {
  const messages = [];
  const system = $('system-prompt').value.trim();
  if (system) messages.push({ role: 'system', content: system });
  for (const m of conversation.messages) {
    if (m.role === 'user' || (m.role === 'assistant' && m.content)) {
      messages.push({ role: m.role, content: m.content });
    }
  }
  const body = {
    messages, stream: true, stream_options: { include_usage: true }, ...samplingParams(),
  };
  if ($('model').value) body.model = $('model').value;
  return body;
}

// ---- Sending ----------------------------------------------------------------------------------

const isBusy = () => state.controller !== null;

function setBusy(busy) {
  document.body.dataset.state = busy ? 'busy' : 'ready';
  $('send').disabled = busy;
  $('stop').hidden = !busy;
  $('messages').setAttribute('aria-busy', String(busy));
  $('status').textContent = busy ? 'Answering…' : 'Ready';
  renderConversationList();
}

async function send(text) {
  let conversation = currentConversation();
  if (!conversation) {
    newConversation();
    conversation = currentConversation();
  }
  clearAlert();
  state.controller = new AbortController();
  setBusy(true);
  // The models (and so the context size) are unknown while the key was missing or wrong.
  if ($('model').options.length === 0) await loadModels();
  const question = { role: 'user', content: text };
  if (conversation.messages.length === 0) conversation.title = titleOf(text);
  conversation.messages.push(question);
  const body = requestBody(conversation);
  const answer = { role: 'assistant', content: '' };
  conversation.messages.push(answer);
  saveConversations();
  renderMessages();
  const article = $('messages').lastElementChild;

  const scheduled = { pending: false };
  const update = () => {  // at most once a frame: each render parses the whole answer
    if (scheduled.pending) return;
    scheduled.pending = true;
    requestAnimationFrame(() => {
      scheduled.pending = false;
      renderStreaming(article);
    });
  };
  try {
    const result = await streamAnswer(body, answer, state.controller.signal, update);
    answer.stats = { usage: result.usage, tokensPerSecond: tokensPerSecond(result) };
    if (result.finishReason === 'length') answer.note = 'stopped at the max tokens limit';
    showStats(answer.stats);
  } catch (error) {
    if (error.name === 'AbortError') {
      answer.note = 'stopped';
    } else if (!answer.content && !answer.reasoning) {
      // Nothing arrived: take the question back into the input box, to send again once fixed.
      conversation.messages.splice(conversation.messages.indexOf(question), 2);
      if (conversation.messages.length === 0) conversation.title = 'New chat';
      if (!$('prompt').value) $('prompt').value = text;
      reportSendError(error);
    } else {
      answer.note = `failed: ${error.message}`;
      reportSendError(error);
    }
  } finally {
    state.controller = null;
    saveConversations();
    if (conversation.messages.includes(answer)) renderStreaming(article);
    else renderMessages();
    // The stop button disappears now; keyboard users continue in the input box.
    const refocus = document.activeElement === $('stop');
    setBusy(false);
    if (refocus) $('prompt').focus();
  }
}

function reportSendError(error) {
  if (error.status === 401) showAuthNeeded();
  else if (error instanceof ApiError) showAlert(error.message);
  else if (error instanceof TypeError) showAlert(`The server cannot be reached: ${error.message}`);
  else showAlert(`The answer could not be read: ${error.message}`);
}

// Re-renders the answer being streamed, keeping the view at the bottom if it was there. The
// reasoning block opens while the model reasons and closes when the answer begins (the user may
// open it again).
function renderStreaming(article) {
  const log = $('messages');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  const { reasoning, content } = article.message;
  const wasReasoning = article.reasoningOnly === true;
  article.reasoningOnly = Boolean(reasoning) && !content;
  updateMessageElement(article);
  if (article.reasoningOnly !== wasReasoning) {
    article.querySelector('.reasoning').open = article.reasoningOnly;
  }
  if (atBottom) log.scrollTop = log.scrollHeight;
}

// ---- Events -----------------------------------------------------------------------------------

function submitPrompt() {
  const text = $('prompt').value;
  if (!text.trim() || isBusy()) return;
  $('prompt').value = '';
  send(text);
}

// Code blocks' copy buttons: the clipboard needs a secure context (localhost is one); elsewhere
// the code is selected for the user to copy.
async function copyCode(button) {
  const code = button.closest('.codeblock').querySelector('code');
  try {
    await navigator.clipboard.writeText(code.textContent);
    button.textContent = 'Copied';
  } catch {
    getSelection().selectAllChildren(code);
    button.textContent = 'Selected';
  }
  setTimeout(() => { button.textContent = 'Copy'; }, 1500);
}

function installEvents() {
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    submitPrompt();
  });
  $('prompt').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitPrompt();
    }
  });
  $('stop').addEventListener('click', () => state.controller?.abort());
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && isBusy()) state.controller.abort();
  });
  $('new-chat').addEventListener('click', newConversation);
  $('settings-form').addEventListener('submit', (event) => event.preventDefault());
  $('settings-form').addEventListener('input', saveSettings);
  let keyTimer = null;  // the models are asked for again once the key stops changing
  $('api-key').addEventListener('input', () => {
    clearTimeout(keyTimer);
    keyTimer = setTimeout(loadModels, 300);
  });
  $('model').addEventListener('change', onModelChosen);
  $('messages').addEventListener('click', (event) => {
    const button = event.target.closest('.copy-code');
    if (button) copyCode(button);
  });
}

async function start() {
  loadSettings();
  state.conversations = validConversations(load(KEYS.conversations, []));
  state.currentId = load(KEYS.current, null);
  installEvents();
  if (!currentConversation()) newConversation();
  else renderAll();
  setBusy(false);
  await loadModels();
}

// For tests and the curious: the renderers this page uses.
window.bottegaChat = { renderMarkdown, highlight, serverSentEvents };

start();
