// The fan's pages: performances, a performance's waiting room, the live seat map, checkout and
// tickets. One module, one view at a time, chosen by the address's #fragment.
import { api, session, demoSignIn, follow, h, money, when } from "./api.js";
import { verifyDraw } from "./draw.js";

const view = document.getElementById("view");
/** Most seats one hold may take (the service's default MAX_SEATS_PER_HOLD). */
const maxSeats = 4;
/** What the current view must stop when another replaces it (streams, timers). */
let cleanups = [];

const views = { "": performances, performances: room, schedules: seatMap, reservations: checkout, tickets };

async function show() {
  cleanups.forEach((stop) => stop());
  cleanups = [];
  const [name = "", ...args] = location.hash.replace(/^#\/?/, "").split("/");
  try {
    await (views[name] ?? performances)(...args);
  } catch (error) {
    view.insertAdjacentHTML("afterbegin", `<p class="error" role="alert">${h(error.message)}</p>`);
  }
  // Once the view is there, so that whoever waits for the sign-in finds the new view.
  document.getElementById("who").textContent = session.userId ? `Signed in as user ${session.userId}` : "";
}
window.addEventListener("hashchange", show);
show();

const every = (ms, work) => { const timer = setInterval(work, ms); cleanups.push(() => clearInterval(timer)); };
const countdown = (until) => {
  const seconds = Math.max(0, Math.round((new Date(until) - Date.now()) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
};

function signInForm() {
  if (session.credential) return "";
  return `<form id="sign-in" class="card" aria-labelledby="sign-in-title">
    <h2 id="sign-in-title">Sign in</h2>
    <p class="row"><label>Demo user id <input data-testid="demo-user-id" name="user" type="number" min="1" value="1" required></label>
      <button type="submit" data-testid="demo-sign-in">Sign in (demo)</button></p>
    <p class="row"><label>Or paste a credential <input name="credential" autocomplete="off"></label>
      <button type="button" class="secondary" id="use-credential">Use it</button></p>
  </form>`;
}

function wireSignIn() {
  const form = document.getElementById("sign-in");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await demoSignIn(Number(form.user.value)).catch((error) => alert(error.message));
    show();
  });
  document.getElementById("use-credential").addEventListener("click", () => {
    session.signIn(form.credential.value.trim(), null);
    show();
  });
}

async function performances() {
  const { performances } = await api("GET", "/v1/performances");
  const rooms = await Promise.all(performances.map((p) => api("GET", `/v1/performances/${p.id}/room`)));
  view.innerHTML = `${signInForm()}<h1>Performances</h1><ul class="list">${performances.map((p, i) => `
    <li class="card"><a data-testid="performance-${p.id}" href="#/performances/${p.id}">${h(p.title)}</a>
      · ${h(p.performer)} · waiting room: <strong>${h(rooms[i].state)}</strong></li>`).join("")}</ul>`;
  wireSignIn();
}

async function room(id) {
  const [performance, firstView] = await Promise.all([api("GET", `/v1/performances/${id}`), api("GET", `/v1/performances/${id}/room`)]);
  let roomView = firstView;
  view.innerHTML = `${signInForm()}<h1>${h(performance.title)}</h1><p>${h(performance.performer)}</p>
    <section class="card" aria-labelledby="room-title"><h2 id="room-title">Waiting room</h2>
      <p>State: <strong data-testid="room-state">${h(roomView.state)}</strong></p>
      <p>Sale starts ${when(roomView.starts_at)} <span id="to-draw"></span></p>
      <p>Commitment: <code>${h(roomView.draw.commitment)}</code></p>
      <div id="draw-check"></div>
      <p><button data-testid="join" id="join">Join the waiting room</button></p>
      <div aria-live="polite"><p>Status: <strong data-testid="status" id="status">not joined</strong></p>
      <p>Position: <strong data-testid="position" id="position">–</strong> <span id="wait"></span></p></div>
    </section>
    <section class="card" id="schedules" hidden aria-labelledby="schedules-title"><h2 id="schedules-title">Choose a date</h2>
      <ul class="list">${(performance.schedules ?? []).map((s) => `<li><a data-testid="schedule-${s.id}" href="#/schedules/${s.id}/${id}">
        ${when(s.starts_at)}</a> · ${s.remaining_seats} of ${s.total_seats} seats left</li>`).join("")}</ul></section>`;
  wireSignIn();
  every(1000, () => { const el = document.getElementById("to-draw"); if (el) el.textContent = roomView.draw.seed ? "" : `(draw in ${countdown(roomView.starts_at)})`; });
  if (roomView.draw.seed) showDrawCheck(id);
  // The room's state changes too (the draw, a pause, sold out): read it again every few seconds.
  every(5000, async () => {
    const drawn = Boolean(roomView.draw.seed);
    roomView = await api("GET", `/v1/performances/${id}/room`).catch(() => roomView);
    const state = document.querySelector('[data-testid="room-state"]');
    if (state) state.textContent = roomView.state;
    if (!drawn && roomView.draw.seed) showDrawCheck(id);
  });
  const join = document.getElementById("join");
  join.disabled = !session.credential;
  join.addEventListener("click", async () => {
    const pass = await api("POST", "/v1/queue/tokens", { body: { performance_id: Number(id) } });
    session.setQueueToken(id, pass.token);
    watch(id, pass);
  });
  const token = session.queueToken(id);
  if (!token) return;
  try {
    watch(id, await api("GET", "/v1/queue/tokens/current", { queueToken: token }));
  } catch (error) {
    // The entry this browser joined with has ended: say why; joining again starts anew.
    document.getElementById("status").textContent = error.reason ? `ended (${error.reason})` : "not joined";
  }
}

function showStatus(pass) {
  document.getElementById("status").textContent = pass.status;
  document.getElementById("position").textContent = pass.position ?? "–";
  document.getElementById("wait").textContent = pass.estimated_wait_seconds != null ? `(about ${pass.estimated_wait_seconds} s)` : "";
  document.getElementById("schedules").hidden = pass.status !== "active";
}

function watch(id, pass) {
  if (!pass) return;
  showStatus(pass);
  const token = session.queueToken(id);
  const stop = follow("/v1/queue/tokens/current/events", token, {
    status: (update) => {
      if (update.status === "ended") {
        document.getElementById("status").textContent = `ended (${update.reason})`;
        stop();
      } else showStatus(update);
    },
  }, { poll: async () => showStatus(await api("GET", "/v1/queue/tokens/current", { queueToken: token })) });
  cleanups.push(stop);
}

async function showDrawCheck(id) {
  const box = document.getElementById("draw-check");
  const draw = await api("GET", `/v1/performances/${id}/room/draw`);
  box.innerHTML = `<p>Seed: <code data-testid="draw-seed">${h(draw.seed)}</code></p><p id="verdict">Checking the draw…</p>`;
  const { commitmentOK, orderOK, checked } = await verifyDraw(draw);
  const verdict = document.getElementById("verdict");
  if (!verdict) return;
  verdict.outerHTML = commitmentOK && orderOK
    ? `<p class="verified" data-testid="draw-verified">Draw verified: the seed matches the commitment and ${checked} entries are in its order.</p>`
    : `<p class="error" data-testid="draw-verified">The draw does not check out.</p>`;
}

async function seatMap(id, performanceId) {
  const token = session.queueToken(performanceId);
  const selected = new Set();
  let seats = new Map();
  const renderMap = (map) => {
    seats = new Map(map.seats.map((s) => [s.seat_no, s]));
    const grades = [...new Set(map.seats.map((s) => s.grade))];
    view.innerHTML = `<h1>Choose up to ${maxSeats} seats</h1>
      <p class="legend"><span><span class="swatch"></span> available</span><span><span class="swatch held"></span> held</span>
        <span><span class="swatch sold"></span> sold</span></p>
      ${grades.map((grade) => `<section aria-label="Grade ${h(grade)}"><h2>Grade ${h(grade)} · ${money(map.seats.find((s) => s.grade === grade).price)}</h2>
        <div class="seats">${map.seats.filter((s) => s.grade === grade).map(seatButton).join("")}</div></section>`).join("")}
      <p class="row"><button data-testid="hold" id="hold" disabled>Hold selected seats</button> <span id="selection" aria-live="polite"></span></p>`;
    view.querySelectorAll(".seat").forEach((button) => button.addEventListener("click", () => toggle(Number(button.dataset.seat))));
    document.getElementById("hold").addEventListener("click", hold);
    refreshSelection();
  };
  const seatButton = (s) => `<button class="seat secondary" data-testid="seat-${s.seat_no}" data-seat="${s.seat_no}" data-status="${s.status}"
    aria-pressed="${selected.has(s.seat_no)}" aria-label="${seatLabel(s)}" ${s.status === "available" ? "" : "disabled"}>${s.seat_no}</button>`;
  const seatLabel = (s) => `Seat ${s.seat_no}, grade ${h(s.grade)}, price ${money(s.price)}, ${s.status}`;
  const toggle = (number) => {
    if (selected.has(number)) selected.delete(number);
    else if (selected.size < maxSeats && seats.get(number)?.status === "available") selected.add(number);
    refreshSelection();
  };
  const refreshSelection = () => {
    for (const [number, seat] of seats) {
      const button = view.querySelector(`[data-seat="${number}"]`);
      if (!button) continue;
      if (seat.status !== "available") selected.delete(number);
      button.dataset.status = seat.status;
      button.disabled = seat.status !== "available";
      button.setAttribute("aria-pressed", String(selected.has(number)));
      button.setAttribute("aria-label", seatLabel(seat));
    }
    document.getElementById("hold").disabled = selected.size === 0;
    document.getElementById("selection").textContent = selected.size ? `Selected: ${[...selected].join(", ")}` : "";
  };
  const hold = async () => {
    const reservation = await api("POST", "/v1/reservations", {
      body: { schedule_id: Number(id), seat_numbers: [...selected] }, queueToken: token, idempotencyKey: crypto.randomUUID(),
    });
    location.hash = `#/reservations/${reservation.id}`;
  };
  // Later snapshots (a reconnection, a poll) update the seats in place, keeping focus and selection.
  const update = (map) => {
    for (const seat of map.seats) if (seats.has(seat.seat_no)) seats.get(seat.seat_no).status = seat.status;
    refreshSelection();
  };
  renderMap(await api("GET", `/v1/schedules/${id}/seats`, { queueToken: token }));
  const stop = follow(`/v1/schedules/${id}/seats/events`, token, {
    snapshot: update,
    seats: (event) => update({ seats: event.changes.map((change) => ({ seat_no: change.seat_no, status: change.status })) }),
  }, { poll: async () => update(await api("GET", `/v1/schedules/${id}/seats`, { queueToken: token })) });
  cleanups.push(stop);
}

async function checkout(id) {
  const reservation = await api("GET", `/v1/reservations/${id}`);
  const wallet = await api("GET", "/v1/wallet");
  view.innerHTML = `<h1>${h(reservation.title)}</h1><p>${h(reservation.performer)} · ${when(reservation.starts_at)}</p>
    <section class="card"><h2>Your seats</h2><ul>${reservation.seats.map((s) => `<li>Seat ${s.seat_no}, grade ${h(s.grade)}: ${money(s.price)}</li>`).join("")}</ul>
      <p>Total: <strong>${money(reservation.total_price)}</strong> · state: <strong id="state">${h(reservation.state)}</strong></p>
      <p>Held for <strong data-testid="hold-countdown" id="countdown">${countdown(reservation.hold_expires_at)}</strong></p></section>
    <section class="card"><h2>Wallet</h2><p>Balance: <strong data-testid="balance" id="balance">${money(wallet.balance)}</strong></p>
      <form class="row" id="charge-form"><label>Amount <input data-testid="charge-amount" name="amount" type="number" min="1" required></label>
        <button data-testid="charge">Charge the wallet</button></form></section>
    <p><button data-testid="pay" id="pay" ${reservation.state === "pending" ? "" : "disabled"}>Pay ${money(reservation.total_price)}</button></p>
    <p id="paid" aria-live="polite"></p>`;
  every(1000, () => { const el = document.getElementById("countdown"); if (el) el.textContent = countdown(reservation.hold_expires_at); });
  document.getElementById("charge-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await api("POST", "/v1/wallet/charges", { body: { amount: Number(event.target.amount.value) }, idempotencyKey: crypto.randomUUID() });
    document.getElementById("balance").textContent = money(answer.balance);
  });
  document.getElementById("pay").addEventListener("click", async () => {
    const paid = await api("POST", `/v1/reservations/${id}/payment`, { idempotencyKey: crypto.randomUUID() })
      .catch((error) => { document.getElementById("paid").innerHTML = `<span class="error" role="alert">${h(error.message)}</span>`; });
    if (paid) location.hash = "#/tickets";
  });
}

async function tickets() {
  if (!session.credential) { view.innerHTML = signInForm(); wireSignIn(); return; }
  const { reservations } = await api("GET", "/v1/reservations");
  view.innerHTML = `<h1>My tickets</h1><ul class="list">${reservations.map((r) => `
    <li class="card" data-testid="ticket-${r.id}"><strong>${h(r.title)}</strong> · ${h(r.performer)} · ${when(r.starts_at)}<br>
      Seats ${r.seats.map((s) => `${s.seat_no} (${h(s.grade)})`).join(", ")} · ${money(r.total_price)} · <strong>${h(r.state)}</strong>
      ${r.state === "confirmed" || r.state === "pending" ? `<button class="secondary" data-cancel="${r.id}">Cancel</button>` : ""}</li>`).join("")}</ul>`;
  view.querySelectorAll("[data-cancel]").forEach((button) => button.addEventListener("click", async () => {
    await api("POST", `/v1/reservations/${button.dataset.cancel}/cancel`, { idempotencyKey: crypto.randomUUID() });
    show();
  }));
}
