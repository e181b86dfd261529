// The organiser's pages: create a performance with its sale and schedules, and a live
// dashboard per performance (room, queue and sales figures, read every second) with pause,
// resume and pace.
import { api, session, demoSignIn, h, money, when } from "./api.js";

const view = document.getElementById("view");
let stopRefresh = () => {};

const views = { "": list, new: create, dashboard };

async function show() {
  stopRefresh();
  const [name = "", ...args] = location.hash.replace(/^#\/?/, "").split("/");
  try {
    if (!session.credential) signIn();
    else await (views[name] ?? list)(...args);
  } catch (error) {
    view.insertAdjacentHTML("afterbegin", `<p class="error" role="alert">${h(error.message)}</p>`);
  }
  // Once the view is there, so that whoever waits for the sign-in finds the new view.
  document.getElementById("who").textContent = session.userId ? `Signed in as user ${session.userId}` : "";
}
window.addEventListener("hashchange", show);
show();

function signIn() {
  view.innerHTML = `<form id="sign-in" class="card"><h1>Sign in as an organiser</h1>
    <p class="row"><label>Demo user id <input data-testid="demo-user-id" name="user" type="number" min="1" value="1" required></label>
      <button data-testid="demo-sign-in">Sign in (demo, admin)</button></p>
    <p class="row"><label>Or paste an admin credential <input name="credential" autocomplete="off"></label>
      <button type="button" class="secondary" id="use-credential">Use it</button></p></form>`;
  const form = document.getElementById("sign-in");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await demoSignIn(Number(form.user.value), true).catch((error) => alert(error.message));
    show();
  });
  document.getElementById("use-credential").addEventListener("click", () => { session.signIn(form.credential.value.trim(), null); show(); });
}

async function list() {
  const { performances } = await api("GET", "/v1/performances");
  view.innerHTML = `<h1>Performances</h1><p><a href="#/new">Create a performance</a></p><ul class="list">${performances.map((p) => `
    <li class="card"><a data-testid="performance-${p.id}" href="#/dashboard/${p.id}">${h(p.title)}</a> · ${h(p.performer)}</li>`).join("")}</ul>`;
}

/** A datetime-local input's value (local time) `minutes` from now. */
const isoIn = (minutes) => {
  const at = new Date(Date.now() + minutes * 60000);
  at.setMinutes(at.getMinutes() - at.getTimezoneOffset());
  return at.toISOString().slice(0, 16);
};

function create() {
  view.innerHTML = `<h1>New performance</h1><form id="create" class="card grid">
    <label for="title">Title</label><input id="title" name="title" required>
    <label for="performer">Performer</label><input id="performer" name="performer" required>
    <label for="prequeue">Pre-queue opens</label><input id="prequeue" name="prequeue" type="datetime-local" value="${isoIn(0)}">
    <label for="starts">Sale starts (the draw)</label><input id="starts" name="starts" type="datetime-local" value="${isoIn(1)}">
    <label for="pace">Admit per tick</label><input id="pace" name="pace" type="number" min="1" value="100">
    <label for="show">Show starts</label><input id="show" name="show" type="datetime-local" value="${isoIn(60 * 24 * 30)}">
    <label for="seats">Seats (grade:count:price, …)</label><input id="seats" name="seats" value="S:20:12000, A:40:8000">
    <span></span><button data-testid="create-performance">Create</button></form>`;
  document.getElementById("create").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const at = (input) => new Date(input.value).toISOString();
    const performance = await api("POST", "/v1/admin/performances", { body: {
      title: form.title.value, performer: form.performer.value,
      sale: { prequeue_opens_at: at(form.prequeue), starts_at: at(form.starts), admit_per_tick: Number(form.pace.value) },
    } });
    const seats = form.seats.value.split(",").map((part) => {
      const [grade, count, price] = part.trim().split(":");
      return { grade, count: Number(count), price: Number(price) };
    });
    await api("POST", `/v1/admin/performances/${performance.id}/schedules`, { body: {
      starts_at: at(form.show), sale_opens_at: new Date().toISOString(), sale_closes_at: at(form.show), seats,
    } });
    location.hash = `#/dashboard/${performance.id}`;
  });
}

async function dashboard(id) {
  view.innerHTML = `<h1 id="title">Performance ${h(id)}</h1>
    <section class="card" aria-live="polite"><div class="row">
      <p>Room: <strong id="state"></strong></p></div>
      <div class="row figures">
        <p>Waiting<br><span class="figure" data-testid="dashboard-waiting" id="waiting">–</span></p>
        <p>Active<br><span class="figure" data-testid="dashboard-active" id="active">–</span></p>
        <p>Admitted / min<br><span class="figure" id="per-minute">–</span></p>
        <p>Sold<br><span class="figure" data-testid="dashboard-sold" id="sold">–</span></p>
        <p>Payments<br><span class="figure" id="revenue">–</span></p></div>
      <div class="row"><button id="pause" class="secondary">Pause admission</button>
        <label>Admit per tick <input id="pace" type="number" min="1" size="6"></label><button id="set-pace" class="secondary">Set pace</button></div>
    </section>
    <section class="card"><h2>Schedules</h2><table><thead><tr><th>Show</th><th>Sold</th><th>Held</th><th>Remaining</th><th>Payments</th></tr></thead>
      <tbody id="schedules"></tbody></table></section>`;
  let paused = false;
  api("GET", `/v1/performances/${id}`).then((p) => { document.getElementById("title").textContent = `${p.title} · ${p.performer}`; }, () => {});
  const refresh = async () => {
    const [room, sales] = await Promise.all([api("GET", `/v1/admin/performances/${id}/room`), api("GET", `/v1/admin/performances/${id}/sales`)]);
    paused = room.settings.paused;
    document.getElementById("state").textContent = room.state;
    document.getElementById("waiting").textContent = room.waiting_total;
    document.getElementById("active").textContent = room.active_total;
    document.getElementById("per-minute").textContent = room.admission_per_minute;
    document.getElementById("sold").textContent = sales.schedules.reduce((sum, s) => sum + s.sold_seats, 0);
    document.getElementById("revenue").textContent = money(sales.revenue);
    document.getElementById("pause").textContent = paused ? "Resume admission" : "Pause admission";
    const pace = document.getElementById("pace");
    if (document.activeElement !== pace) pace.value = room.settings.admit_per_tick ?? "";
    document.getElementById("schedules").innerHTML = sales.schedules.map((s) => `<tr><td>${when(s.starts_at)}</td><td>${s.sold_seats}</td>
      <td>${s.held_seats}</td><td>${s.remaining_seats}</td><td>${money(s.revenue)}</td></tr>`).join("");
  };
  const change = async (body) => { await api("PATCH", `/v1/admin/performances/${id}/room`, { body }); await refresh(); };
  document.getElementById("pause").addEventListener("click", () => change({ paused: !paused }));
  document.getElementById("set-pace").addEventListener("click", () => change({ admit_per_tick: Number(document.getElementById("pace").value) }));
  await refresh();
  const timer = setInterval(() => refresh().catch(() => {}), 1000);
  stopRefresh = () => clearInterval(timer);
}
