// The API as the pages use it: the signed-in user's credential, the queue token of each room,
// JSON requests that turn error answers into exceptions, and live streams that fall back to
// polling while the connection is down.

const store = window.sessionStorage;

export const session = {
  get credential() { return store.getItem("credential"); },
  get userId() { return Number(store.getItem("userId")) || null; },
  signIn(credential, userId) { store.setItem("credential", credential); store.setItem("userId", String(userId ?? "")); },
  signOut() { store.clear(); },
  queueToken(performanceId) { return store.getItem(`queueToken:${performanceId}`); },
  setQueueToken(performanceId, token) { store.setItem(`queueToken:${performanceId}`, token); },
};

/** An error answer of the API: its HTTP status, stable code and message. */
export class APIError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.reason = body?.error?.reason;
  }
}

/** Sends a request; answers the parsed JSON body, or throws an APIError. */
export async function api(method, path, { body, queueToken, idempotencyKey } = {}) {
  const headers = { Accept: "application/json" };
  if (session.credential) headers.Authorization = `Bearer ${session.credential}`;
  if (queueToken) headers["Queue-Token"] = queueToken;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new APIError(response.status, json);
  return json;
}

/** Signs in as any user in demo mode. */
export async function demoSignIn(userId, admin = false) {
  const answer = await api("POST", "/v1/demo/sign-in", { body: { user_id: userId, admin } });
  session.signIn(answer.credential, answer.user_id);
  return answer;
}

const connection = () => document.getElementById("connection");

/**
 * Follows a live stream (Server-Sent Events). `events` maps event names to handlers of their
 * parsed data. While the connection is down it calls `poll` every `every` ms instead and says so
 * on the page; the browser reconnects by itself (with Last-Event-ID). Answers a stop function.
 */
export function follow(path, queueToken, events, { poll, every = 2000 } = {}) {
  const url = `${path}?queue_token=${encodeURIComponent(queueToken)}`;
  const source = new EventSource(url);
  let timer = null;
  const say = (text) => { if (connection()) connection().textContent = text; };
  for (const [name, handle] of Object.entries(events)) {
    source.addEventListener(name, (event) => handle(JSON.parse(event.data), event.lastEventId));
  }
  source.onopen = () => {
    if (timer) { clearInterval(timer); timer = null; }
    say("Live");
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) return;
    say("Connection lost: updating every few seconds until it is back");
    if (poll && !timer) timer = setInterval(() => poll().catch(() => {}), every);
  };
  return () => { source.close(); if (timer) clearInterval(timer); say(""); };
}

/** Escapes text for HTML. */
export function h(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Prices and balances are whole units of the wallet's currency.
export const money = (amount) => Number(amount).toLocaleString();
export const when = (iso) => new Date(iso).toLocaleString();
