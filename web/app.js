// drink web app: one WebSocket to drinkd's /ws, which is a member session.
// Every request is {"id", "cmd", ...}; replies come back in order with the
// same id; events ({"event": ...}) keep the page live without reloading.
// No framework, no build step, no inline script (the server's CSP forbids
// it).  User data is only ever put into the page with textContent.
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "drink.token";

// Plain words for the protocol's error codes, for a reply that brings no
// message of its own: the server's message is the precise one ("that drop
// has already been refunded") and is shown when there is one.
const ERRORS = {
  bad_credentials: "Wrong user name or password.",
  locked_out: "Too many failed attempts.",
  insufficient_funds: "Not enough credit.",
  slot_empty: "That slot is empty.",
  slot_disabled: "That slot is switched off.",
  machine_offline: "The machine is offline.",
  drop_in_progress: "Another drop of yours is still running; wait for it.",
  drop_failed: "The machine could not vend it. Nothing was charged.",
  drop_timeout: "The machine did not answer in time. Nothing was charged.",
  no_such_user: "There is no such user.",
  no_such_machine: "There is no such machine.",
  no_such_slot: "There is no such slot.",
  no_such_transaction: "There is no such transaction.",
  exists: "That name is already taken.",
  invalid_amount: "The amount must be a whole number of credits.",
  forbidden: "You are not allowed to do that.",
  auth_required: "Please log in first.",
  conflict: "That was already done with different details.",
  server_busy: "The server is busy. Try again shortly.",
};

// Where a person sees whether a change went through, by command: the
// commands that move money or make users, which take an idempotency key.
const KEYED = {
  drop: "History", send: "History", credit: "the Log", debit: "the Log",
  set_balance: "the Log", refund: "the Log", user_add: "Users",
};

// A message as a sentence: a capital first, a full stop last.  A message
// that begins with a name the request gave ("admin is the last admin; ..."
// for user admin) keeps the name as it is written: names are lower-case.
function sentence(text, names) {
  const first = text.split(/[\s;:,]/, 1)[0];
  if (!(names || []).includes(first)) text = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(text) ? text : text + ".";
}

// The fields a rule can be about, as the forms call them.
const FIELDS = {
  amount: "the amount", balance: "the balance", price: "the price", stock: "the stock",
  slot: "the slot number", name: "the display name", item: "the item", note: "the note",
  label: "the label", new: "the new password", password: "the password",
  your_password: "your password",
};

// The server states a field's rule for a program ("\"user\" must be a
// user name: lower-case letters, ...", "\"amount\" must be a whole number
// from 1 to 1000000000"); a person reads "A user name is lower-case
// letters, ..." and "The amount must be ...".  The rule itself stays the
// server's.
function nameRule(message) {
  const m = /^"[^"]*" must be an? (user name|machine id): (.*)$/.exec(message);
  if (m) return "A " + m[1] + " is " + m[2];
  const f = /^"([a-z_]+)" (must be .*)$/.exec(message);
  return f ? (FIELDS[f[1]] || "the " + f[1].replace(/_/g, " ")) + " " + f[2] : message;
}

// A wait of retry_after seconds, in words: "2 seconds", "5 minutes".
function waitWords(seconds) {
  const n = seconds < 60 ? seconds : Math.ceil(seconds / 60);
  return n + (seconds < 60 ? " second" : " minute") + (n === 1 ? "" : "s");
}

// The words for a failed reply.  whose: whose balance an
// insufficient_funds reply gives (a user name; absent: one's own).
function explain(reply, whose) {
  const check = KEYED[reply.cmd];
  if (reply.error === "unavailable") {
    // Storage is failing: refused before anything was written, so the
    // same action is safe to send again after the wait (protocol:
    // unavailable).  The server's own words are about its disk.
    return "The server cannot save changes just now; nothing was changed. Try again " +
      (reply.retry_after ? "in " + waitWords(reply.retry_after) + "." : "later.");
  }
  if (reply.error === "internal") {
    // The change may have been made all the same (protocol: internal).
    return "The server had a problem, so the outcome is unknown: check " +
      (check ? check + " " : "") + "before trying again.";
  }
  if (reply.error === "connection" && reply.unsent) {
    return "The page is not connected to the server just now, so nothing was sent. " +
      "Try again once it has reconnected.";
  }
  if (reply.error === "connection") {
    return "The connection to the server was lost before the answer came" +
      (check ? ", so the outcome is unknown: check " + check + " before trying again." :
        ". Try again.");
  }
  // A rule nameRule put in words begins with its own, never with a name.
  const sent = reply.sentArgs || {};
  const rule = reply.message ? nameRule(reply.message) : null;
  let text = rule ? sentence(rule, rule === reply.message ? [sent.user, sent.to, sent.machine] : []) :
    ERRORS[reply.error] || "Something went wrong (" + reply.error + ").";
  if (reply.error === "insufficient_funds" && typeof reply.balance === "number") {
    text += " " + (whose ? "The balance of " + whose : "Your balance") + " is " + reply.balance + ".";
  } else if (reply.error === "locked_out" && reply.retry_after) {
    text += " Try again in " + waitWords(reply.retry_after) + ".";
  } else if ((reply.error === "drop_failed" || reply.error === "drop_timeout") &&
      !/nothing/i.test(text)) {
    text += " Nothing was charged.";
  }
  return text;
}

// Build an element: h("td", {class: "num"}, "12").
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === "dataset") {
      Object.assign(el.dataset, v);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else if (v !== false && v !== null && v !== undefined) {
      el.setAttribute(k, v);
    }
  }
  for (const kid of kids.flat()) {
    if (kid !== null && kid !== undefined && kid !== false) {
      el.append(kid instanceof Node ? kid : String(kid));
    }
  }
  return el;
}

function when(unix) {
  if (unix === null || unix === undefined) return "never";
  const d = new Date(unix * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
    " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
}

function signed(n) {
  return (n > 0 ? "+" : "") + n;
}

// A list that could not be read says so where it would be, with a way to
// read it again: rows left from before, or none, would pass for what the
// server holds now.  what: the list, after "Could not read".  Said
// without explain()'s words for a change (whether it was made): a read
// changes nothing.
function readFailed(body, what, r, retry) {
  const why = r.error === "connection" ? "The connection to the server was lost." :
    r.error === "internal" || r.error === "unavailable" ? "The server had a problem." : explain(r);
  const columns = body.closest("table").tHead.rows[0].cells.length;
  body.replaceChildren(h("tr", {}, h("td", { colspan: columns, class: "hint read-failed" },
    h("span", { role: "alert" }, "Could not read " + what + ". " + why + " "),
    h("button", { type: "button", class: "quiet retry", on: { click: once(() => retry()) } }, "Try again"))));
}

// ---- the connection ----------------------------------------------------

const conn = {
  ws: null,
  nextId: 1,
  pending: new Map(),
  ready: null,
  retry: 500,
  closedWhy: "",   // the reason of the server's last close frame, until reconnected
  down: false,     // lost and not yet back: the status line says so (setStatus)
};

const CONN_LOST = "Connection lost; reconnecting…";

// Why the server closed the connection (its close frame's reason,
// protocol: WebSocket), in words for the login form when the login this
// page kept no longer works.  Any other reason: "Please log in again."
// (A login refused says no more than bad_credentials, whatever the
// account: only the server's close tells why.)
const CLOSED_WORDS = {
  "user disabled or changed": "Your account was disabled or changed by an admin; log in again, or ask an admin.",
  "password changed": "Your password was changed in another session; log in with the new one.",
  "login token revoked": "This browser's login was revoked from another device; log in again.",
};

// Resolves true once the server has said hello, false when this attempt
// failed first: a request waiting for it is then answered at once (not
// sent) instead of waiting for good; the close schedules the next try.
function connect() {
  conn.ready = new Promise((resolve) => {
    const ws = new WebSocket("wss://" + location.host + "/ws");
    conn.ws = ws;
    ws.addEventListener("message", (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      if (msg.event === "hello") {
        conn.retry = 500;
        conn.down = false;
        resolve(true);
      } else if (msg.event) {
        onEvent(msg);
      } else if (conn.pending.has(msg.id)) {
        const p = conn.pending.get(msg.id);
        conn.pending.delete(msg.id);
        p.done(Object.assign(msg, { cmd: p.cmd, sentArgs: p.args }));
      }
    });
    ws.addEventListener("close", (ev) => {
      // Kept through the failed attempts that may follow (they have none).
      if (ev.reason) conn.closedWhy = ev.reason;
      for (const p of conn.pending.values()) {
        p.done({ ok: false, error: "connection", cmd: p.cmd });
      }
      conn.pending.clear();
      resolve(false);
      conn.down = true;
      setStatus(CONN_LOST, true);
      setTimeout(reconnect, conn.retry);
      conn.retry = Math.min(conn.retry * 2, 15000);
    });
  });
  return conn.ready;
}

async function reconnect() {
  if (!(await connect())) return;
  setStatus("");
  const why = conn.closedWhy;
  conn.closedWhy = "";
  if (state.user) {
    const token = storedToken();
    if (!token || !(await tokenLogin(token))) {
      showLogin(CLOSED_WORDS[why] || "Please log in again.");
    }
  }
}

// Idempotency keys (protocol: "Idempotency keys"): each action of a
// KEYED command gets a fresh random key.  When its outcome is unknown (the
// connection was lost, internal, or drop_in_progress) the key is kept, so
// the same action sent again carries the same key and the server does it
// at most once; any other answer frees it.
const keys = new Map();   // cmd -> { sig, key } of an action with no final answer

function freshKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// The arguments as the server compares them (member order aside; a
// user_add's passwords are not compared).
function signature(args) {
  const a = Object.assign({}, args);
  delete a.password;
  delete a.your_password;
  return JSON.stringify(Object.keys(a).sort().map((k) => [k, a[k]]));
}

// Send a request; resolves with the reply (ok or not), never rejects.  The
// reply carries cmd and the request's arguments (sentArgs), for explain().
async function call(cmd, args) {
  await conn.ready;
  args = Object.assign({}, args);
  let keyed = null;
  if (KEYED[cmd]) {
    const sig = signature(args);
    const kept = keys.get(cmd);
    keyed = { sig: sig, key: kept && kept.sig === sig ? kept.key : freshKey() };
    args.key = keyed.key;
  }
  const id = conn.nextId++;
  const r = await new Promise((resolve) => {
    if (conn.ws.readyState !== WebSocket.OPEN) {
      resolve({ ok: false, error: "connection", cmd: cmd, unsent: true });
      return;
    }
    conn.pending.set(id, { cmd: cmd, args: args, done: resolve });
    conn.ws.send(JSON.stringify(Object.assign({ id: id, cmd: cmd }, args)));
  });
  if (keyed) {
    if (["connection", "internal", "drop_in_progress"].includes(r.error)) {
      keys.set(cmd, keyed);
    } else if ((keys.get(cmd) || {}).key === keyed.key) {
      keys.delete(cmd);
    }
  }
  return r;
}

// Idle connections are closed by the server; a ping keeps ours open.
setInterval(() => {
  if (conn.ws && conn.ws.readyState === WebSocket.OPEN) call("ping");
}, 60000);

// ---- state and status --------------------------------------------------

const state = {
  user: null,
  admin: false,
  balance: null,
  machines: new Map(),    // id -> machine
  slots: new Map(),       // id -> [slot]
  dropsMine: new Set(),   // tx of this page's drops: their replies tell how they ended
  dropping: null,         // this page's drop awaiting its reply: {machine, slot, delay, tx}
  dropCount: null,        // the interval counting its delay down
  dropLate: null,         // this page's drop refused without its tx, whose events may follow
  dropsBusy: new Set(),   // tx of this user's drops under way (events), from anywhere
  historyBefore: [],      // stack of "before" values for paging
  logArgs: null,          // the filter of the log shown, which Older goes on with
  logBefore: null,
  moneyUser: null,
  loadMyCards: null,      // reloads the Cards tab's list
  tab: "machines",
};

// An empty text clears the line, but while the page is offline it goes
// on saying so: a tab switched to or an action's answer does not make
// the page look connected until the next failed attempt says it again.
function setStatus(text, bad) {
  if (!text && conn.down) {
    text = CONN_LOST;
    bad = true;
  }
  const el = $("#status");
  el.textContent = text;
  el.classList.toggle("bad", !!bad);
}

function storedToken() {
  return localStorage.getItem(TOKEN_KEY) || sessionStorage.getItem(TOKEN_KEY);
}

function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY + ".id");
  sessionStorage.removeItem(TOKEN_KEY + ".id");
}

// The login form, with message as a plain notice above it (why it is
// shown: logged out, revoked); a failed login's error goes in #login-error.
function showLogin(message) {
  state.user = null;
  // The next person at this browser finds nothing of the last one's:
  // no form as they left it, nor what they were shown (how their drop
  // ended, with their balance; their history, devices and cards; an
  // admin's lists), which would stand in the next one's tabs until, or
  // if, the next one's own came.
  for (const t of TABS) tabReset(t.id);
  // The password asked for under Users and Set up (the forms' and the
  // cards' own go with their form and panel).
  usersOwn.reset();
  machinesOwn.reset();
  clearInterval(state.dropCount);
  state.dropCount = null;
  $("#drop-status").hidden = true;
  $("#drop-status").textContent = "";
  for (const list of ["#history", "#tokens", "#users", "#log", "#online"]) {
    $(list + " tbody").replaceChildren();
  }
  $("#admin-machines").replaceChildren();
  $("#user-cards-box").replaceChildren();
  state.loadMyCards = cardsPanel($("#my-cards"), null);
  state.historyBefore = [];
  state.logArgs = null;
  state.logBefore = null;
  setStatus("");
  $("#who").hidden = true;
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
  $("#login-error").textContent = "";
  $("#login-note").textContent = message || "";
  $("#login-user").focus();
}

// ---- log in and out ----------------------------------------------------

async function tokenLogin(token) {
  const r = await call("login", { token: token });
  if (!r.ok) {
    if (r.error === "bad_credentials") forgetToken();
    return false;
  }
  await loggedIn(r);
  return true;
}

async function passwordLogin(ev) {
  ev.preventDefault();
  const err = $("#login-error");
  const button = $("#login-submit");
  err.textContent = "";
  $("#login-note").textContent = "";
  button.disabled = true;
  const r = await call("login", {
    user: $("#login-user").value.trim().toLowerCase(),
    password: $("#login-password").value,
  });
  button.disabled = false;
  if (!r.ok) {
    err.textContent = explain(r);
    return;
  }
  $("#login-password").value = "";
  const kept = await keepToken($("#login-stay").checked);
  await loggedIn(r);
  // (While the server's storage fails a login is answered, but its token
  // cannot be written.)
  if (!kept) {
    setStatus("Logged in, but this browser could not keep the login: reloading the page will ask for the password again.", true);
  }
}

// The browser and system a person knows a user agent by ("Firefox on
// Android"), or null.  Order matters: Edge's agent names Chrome and
// Safari too, Chrome's names Safari, an iPhone's names Mac OS X, and
// Android's names Linux.
const BROWSERS = [
  [/\bEdg(e|A|iOS)?\//, "Edge"], [/\b(Firefox|FxiOS)\//, "Firefox"],
  [/\bChromium\//, "Chromium"], [/\b(Headless)?(Chrome|CriOS)\//, "Chrome"],
  [/\bVersion\/.*\bSafari\//, "Safari"],
];
const SYSTEMS = [
  [/\bAndroid\b/, "Android"], [/\biPhone\b/, "iPhone"], [/\biPad\b/, "iPad"],
  [/\bWindows\b/, "Windows"], [/\bCrOS\b/, "ChromeOS"], [/\bMac OS X\b/, "macOS"],
  [/\bLinux\b/, "Linux"],
];

function deviceName(ua) {
  const b = BROWSERS.find(([re]) => re.test(ua));
  const s = SYSTEMS.find(([re]) => re.test(ua));
  if (!b) return null;
  return b[1] + (s ? " on " + s[1] : "");
}

// A token's label: the device's name and "(browser)" for a login kept
// after the browser closes, "(tab)" for this tab's alone.  An agent not
// known is shown as itself, cut to the server's 64 bytes (protocol:
// token_create).
function deviceLabel(stay) {
  const kind = stay ? " (browser)" : " (tab)";
  const bytes = (t) => new TextEncoder().encode(t).length;
  let name = deviceName(navigator.userAgent) || navigator.userAgent.trim() || "a browser";
  while (bytes(name + kind) > 64) name = name.slice(0, -1);
  return name.trim() + kind;
}

// The token that lets a reload stay logged in.  "Stay logged in" (stay)
// keeps it after the browser closes, for 90 days, in localStorage;
// otherwise it lives as long as this tab, for a day, in sessionStorage.
// Which store holds it is what tells the two apart later (the label is
// only for people).  A login makes it; a new password, which revokes
// every token, makes it again as the login chose.  Whether it was made.
async function keepToken(stay) {
  const t = await call("token_create", { label: deviceLabel(stay), days: stay ? 90 : 1 });
  if (t.ok) {
    const store = stay ? localStorage : sessionStorage;
    store.setItem(TOKEN_KEY, t.token);
    store.setItem(TOKEN_KEY + ".id", String(t.token_id));
  }
  return !!t.ok;
}

function myTokenId() {
  return Number(localStorage.getItem(TOKEN_KEY + ".id") || sessionStorage.getItem(TOKEN_KEY + ".id"));
}

// This browser's token revoked (already, when revoked is true), then the
// session ended: message is what the login form then says.
async function endSession(message, revoked) {
  const id = myTokenId();
  if (id && !revoked) await call("token_revoke", { token_id: id });
  forgetToken();
  await call("unsubscribe");
  await call("logout");
  // Ended on purpose: the next person at this browser is not offered
  // this login (a lost connection keeps the name, for the same person).
  $("#login-user").value = "";
  $("#login-stay").checked = false;
  showLogin(message);
}

function logout() {
  return endSession("You are logged out.", false);
}

async function loggedIn(r) {
  state.user = r.user;
  state.dropsBusy.clear();
  state.dropLate = null;
  state.admin = r.role === "admin";
  setBalance(r.balance);
  $("#user-name").textContent = r.user + (state.admin ? " (admin)" : "");
  // The role's tabs before the view shows (not the last user's, nor none).
  buildTabs();
  $("#who").hidden = false;
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  const topics = ["machines", "slots", "balance", "drops"];
  if (state.admin) topics.push("sessions");
  await call("subscribe", { topics: topics });
  await loadMachines();
  showTab(state.admin || state.tab !== "users" ? state.tab : "machines");
}

function setBalance(b) {
  state.balance = b;
  $("#balance").textContent = b;
  renderMachines();
}

// ---- tabs --------------------------------------------------------------

const TABS = [
  { id: "machines", label: "Machines", load: loadMachines },
  { id: "history", label: "History", load: () => loadHistory(null) },
  { id: "send", label: "Send" },
  { id: "cards", label: "Cards", load: () => state.loadMyCards() },
  { id: "account", label: "Account", load: loadTokens },
  { id: "users", label: "Users", admin: true, load: loadUsers },
  { id: "admin-machines", label: "Set up", admin: true, load: loadAdminMachines },
  { id: "log", label: "Log", admin: true, load: () => loadLog(false) },
  { id: "online", label: "Online", admin: true, load: loadOnline },
];

function buildTabs() {
  const nav = $("#tabs");
  nav.replaceChildren();
  for (const t of TABS) {
    if (t.admin && !state.admin) continue;
    nav.append(h("button", {
      type: "button", id: "tabbtn-" + t.id, dataset: { tab: t.id },
      on: { click: () => showTab(t.id) },
    }, t.label));
  }
}

function showTab(id) {
  const t = TABS.find((x) => x.id === id && (!x.admin || state.admin)) || TABS[0];
  if (t.id !== state.tab) {
    setStatus("");
    tabReset(state.tab);
  }
  state.tab = t.id;
  for (const x of TABS) {
    $("#tab-" + x.id).hidden = x.id !== t.id;
    const b = $("#tabbtn-" + x.id);
    if (b) b.setAttribute("aria-current", x.id === t.id ? "page" : "false");
  }
  if (t.load) t.load();
}

// A tab left is found fresh when opened again: its forms empty and without
// their errors, the panels opened for one user (Balance…, Cards…) closed,
// so nothing typed for one purpose is sent for another.  The log's filter
// stays: it chooses a view, it is not an action.  (Set up has no form:
// loadAdminMachines draws it anew.)
function tabReset(id) {
  const section = $("#tab-" + id);
  for (const form of section.querySelectorAll("form:not(#log-form)")) formReset(form);
  for (const panel of section.querySelectorAll("#money-form, #user-cards")) panel.hidden = true;
}

// ---- machines, slots and drops -----------------------------------------

async function loadMachines() {
  const r = await call("machines");
  if (!r.ok) return;
  state.machines = new Map(r.machines.map((m) => [m.machine, m]));
  await Promise.all(r.machines.map(async (m) => {
    const s = await call("slots", { machine: m.machine });
    if (s.ok) state.slots.set(m.machine, s.slots);
  }));
  renderMachines();
  adminMachinesRefresh();
}

// Set up drawn anew from what is known, unless someone is typing in it:
// a redraw would throw away what they typed (in any row, even with the
// focus on a button, or in the password asked for under it before a
// Rename is pressed again).  Then each card's switch and state are
// brought up to date in place: a machine switched off reads so at once,
// and its button offers to switch it on.
function adminMachinesRefresh() {
  if (state.tab !== "admin-machines") return;
  if (!document.activeElement.closest("#admin-machines, .machines-own-row")) {
    renderAdminMachines();
    return;
  }
  for (const card of $("#admin-machines").children) {
    const m = state.machines.get(card.dataset.machine);
    if (m) adminMachineShow(card, m);
  }
}

// A machine's state in words and colour, the same on both screens: an
// admin's switch before its controller's connection.
function machineState(m) {
  if (!m.enabled) return { cls: "offline", text: "switched off" };
  return m.online ? { cls: "online", text: "online" } : { cls: "offline", text: "offline" };
}

// Why a Drop is off, or null: what lasts (the machine, the slot) before
// what passes (a drop under way, too little credit).
function dropBlocked(m, s) {
  if (!m.enabled) return "machine switched off";
  if (!m.online) return "machine offline";
  if (!s.enabled) return "slot switched off";
  if (s.stock <= 0) return "empty";
  if (state.dropping || state.dropsBusy.size > 0) return "your drop is under way";
  if (state.balance !== null && s.price > state.balance) return "not enough credit";
  return null;
}

// A Drop tapped drops from the machine and slot its button names then.
function dropAt(ev) {
  const b = ev.currentTarget.dataset;
  const m = state.machines.get(b.machine);
  const s = (state.slots.get(b.machine) || []).find((x) => x.slot === Number(b.slot));
  if (m && s) drop(m, s);
}

// Make el's children look like want's, keeping el's own nodes where they
// are of the same kind (their attributes and text brought up to date), so
// that a list redrawn in place keeps its buttons: a finger down on a
// button that is replaced before it lifts taps nothing.  A kept node keeps
// its listeners, so these must read what they act on from the node.
function morphChildren(el, want) {
  const have = [...el.childNodes];
  const next = [...want.childNodes];
  next.forEach((n, i) => {
    const o = have[i];
    if (o && o.nodeType === Node.TEXT_NODE && n.nodeType === Node.TEXT_NODE) {
      if (o.nodeValue !== n.nodeValue) o.nodeValue = n.nodeValue;
    } else if (o && o.nodeType === Node.ELEMENT_NODE && o.nodeName === n.nodeName) {
      for (const a of [...o.attributes]) if (!n.hasAttribute(a.name)) o.removeAttribute(a.name);
      for (const a of [...n.attributes]) if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
      morphChildren(o, n);
    } else if (o) {
      el.replaceChild(n, o);
    } else {
      el.append(n);
    }
  });
  for (const o of have.slice(next.length)) o.remove();
}

// The machine list, redrawn in place (see morphChildren): it is redrawn
// on every machine's or slot's event, which can come at any time (a
// temperature report, another member's drop, an admin's change).
function renderMachines() {
  const into = $("#machines");
  if (!into) return;
  const box = document.createElement("div");
  if (state.machines.size === 0) {
    box.append(h("p", { class: "hint" }, "No machines yet."));
  }
  for (const m of [...state.machines.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    // A slot with no item (or blanks only, from an old database) is not
    // set up: the server refuses its drops, so it is not offered.
    const slots = (state.slots.get(m.machine) || []).filter((s) => s.item && s.item.trim());
    // Why a Drop is off is written under it, as "empty" is in the stock
    // column: a phone shows no title.  The button's label says it to a
    // screen reader, so the words under it are not read twice.
    const rows = slots.map((s) => {
      const why = dropBlocked(m, s);
      return h("li", { class: "slot" + (why ? " off" : "") },
        h("span", { class: "item" }, s.item),
        h("span", { class: "price" }, s.price + " cr"),
        h("span", { class: "stock" }, s.stock > 0 ? s.stock + " left" : "empty"),
        h("button", {
          type: "button", class: "drop", disabled: !!why,
          title: why || "Drop " + s.item,
          "aria-label": "Drop " + s.item + " from " + m.name + (why ? " (" + why + ")" : ""),
          dataset: { machine: m.machine, slot: String(s.slot) },
          on: { click: dropAt },
        }, "Drop"),
        why && why !== "empty" ? h("span", { class: "why", "aria-hidden": "true" }, why) : null);
    });
    const temp = typeof m.temperature === "number" ? m.temperature.toFixed(1) + " °C" : "";
    box.append(h("article", { class: "card machine", dataset: { machine: m.machine } },
      h("header", {},
        h("h2", {}, m.name),
        h("span", { class: "state " + machineState(m).cls }, machineState(m).text),
        h("span", { class: "temp" }, temp)),
      rows.length ? h("ul", { class: "slots" }, rows) : h("p", { class: "hint" }, "No slots set up.")));
  }
  morphChildren(into, box);
}

function dropStatus(text, kind) {
  clearInterval(state.dropCount);
  state.dropCount = null;
  const el = $("#drop-status");
  el.hidden = false;
  el.className = "drop-status " + (kind || "");
  el.textContent = text;
}

// The errors a drop ends with once its price was held, so that its events
// were sent too (protocol §10); the others refuse it before, with none.
// (drop_in_progress is mostly such a refusal, though the vend queue can
// answer it after the hold: that drop's events then read as another's.)
const DROP_HELD_ERRORS = ["drop_failed", "drop_timeout", "internal"];

async function drop(m, s) {
  // One at a time: the buttons are off until this drop's reply comes.
  if (state.dropping) return;
  const delay = Number($("#drop-delay").value);
  const d = { machine: m.machine, slot: s.slot, delay: delay, tx: null };
  state.dropping = d;
  state.dropLate = null;
  renderMachines();
  dropStatus("Asking for " + s.item + " from " + m.name + "…", "busy");
  const r = await call("drop", { machine: m.machine, slot: s.slot, delay: delay });
  state.dropping = null;
  renderMachines();
  // Which drop events were this one's.  The reply names its tx only when
  // the drop was made; a refusal does not, so the tx is the one its
  // "queued" event named, which may still be on its way: a machine that
  // refuses at once is answered before the events are written.  When the
  // connection went, the outcome is not known here: its events, if they
  // come on the next connection, tell it.
  if (d.tx && (r.tx ? r.tx !== d.tx : r.error === "connection" || !DROP_HELD_ERRORS.includes(r.error))) {
    state.dropsMine.delete(d.tx);
  }
  if (r.tx) {
    state.dropsMine.add(r.tx);
  } else if (!d.tx && DROP_HELD_ERRORS.includes(r.error)) {
    state.dropLate = { machine: d.machine, slot: d.slot, until: Date.now() + 5000 };
  }
  if (r.ok) {
    dropStatus("Done: " + s.item + " dropped for " + r.price + " credits. Balance " + r.balance + ".", "good");
  } else {
    dropStatus(s.item + ": " + explain(r), "bad");
  }
}

const DROP_WORDS = {
  queued: "Queued: waiting for the machine…",
  vending: "Vending now…",
  completed: "Done.",
};

// A "queued" event is this page's drop when it names the machine and slot
// of the drop awaiting its reply, or of the one just refused without a tx
// (the server takes one drop of a user at a time).
function dropClaim(ev) {
  let d = state.dropping;
  if (!d || d.tx) {
    d = state.dropLate && Date.now() < state.dropLate.until ? state.dropLate : null;
  }
  if (d && d.machine === ev.machine && d.slot === ev.slot) {
    d.tx = ev.tx;
    state.dropsMine.add(ev.tx);
    state.dropLate = null;
  }
}

function onDropEvent(ev) {
  // A drop of this user from anywhere (a card, the command line) holds the
  // Drop buttons until it settles: the server takes one at a time.
  const busy = state.dropsBusy.size;
  if (ev.state === "queued" || ev.state === "vending") state.dropsBusy.add(ev.tx);
  else state.dropsBusy.delete(ev.tx);
  if (busy !== state.dropsBusy.size) renderMachines();
  if (ev.state === "queued") dropClaim(ev);
  const m = state.machines.get(ev.machine);
  const s = (state.slots.get(ev.machine) || []).find((x) => x.slot === ev.slot);
  const what = (s ? s.item : "slot " + ev.slot) + " from " + (m ? m.name : ev.machine) + ": ";
  if (state.dropsMine.has(ev.tx)) {
    // This page's drop: its progress shows until the reply, which says
    // how it ended, with details; nothing after the reply overwrites that.
    const d = state.dropping;
    if (d && d.tx === ev.tx && (ev.state === "queued" || ev.state === "vending")) {
      const text = what + DROP_WORDS[ev.state];
      // The delay it was sent with (the list may show another by now),
      // counted down as the machine waits it out, as drink drop does:
      // whoever walks to the machine wants to know what is left.
      dropStatus(text, "busy");
      if (ev.state === "vending" && d.delay > 0) {
        const end = Date.now() + d.delay * 1000;
        const count = () => {
          const left = Math.ceil((end - Date.now()) / 1000);
          $("#drop-status").textContent = text + (left > 0 ? " (it drops in " + left + " s)" : "");
          if (left <= 0) {
            clearInterval(state.dropCount);
            state.dropCount = null;
          }
        };
        count();
        state.dropCount = setInterval(count, 250);
      }
    }
    return;
  }
  // A drop from elsewhere (a card, the command line, another device),
  // whose delay is not known here: its progress, then how it ended.
  if (ev.state === "completed") {
    dropStatus(what + DROP_WORDS.completed, "good");
  } else if (ev.state === "failed") {
    dropStatus(what + explain({ ok: false, error: ev.error || "drop_failed", cmd: "drop" }), "bad");
  } else if (DROP_WORDS[ev.state]) {
    dropStatus(what + DROP_WORDS[ev.state], "busy");
  }
}

// ---- events --------------------------------------------------------------

function onEvent(ev) {
  switch (ev.event) {
    case "balance":
      setBalance(ev.balance);
      if (state.tab === "history" && state.historyBefore.length === 0) loadHistory(null);
      break;
    case "machine":
      if (ev.deleted) {
        state.machines.delete(ev.machine);
      } else {
        state.machines.set(ev.machine, ev);
        if (!state.slots.has(ev.machine)) loadSlots(ev.machine);
      }
      renderMachines();
      adminMachinesRefresh();
      break;
    case "slot": {
      const list = state.slots.get(ev.machine) || [];
      const s = { slot: ev.slot, item: ev.item, price: ev.price, stock: ev.stock, enabled: ev.enabled };
      const i = list.findIndex((x) => x.slot === ev.slot);
      if (i >= 0) list[i] = s; else list.push(s);
      list.sort((a, b) => a.slot - b.slot);
      state.slots.set(ev.machine, list);
      renderMachines();
      adminMachinesRefresh();
      break;
    }
    case "drop":
      onDropEvent(ev);
      // A drop's end moves no money (its price was held when it was
      // queued, and a failed one's hold given back shows as a balance
      // event): History's first page is read again for its state.
      if ((ev.state === "completed" || ev.state === "failed") &&
          state.tab === "history" && state.historyBefore.length === 0) {
        loadHistory(null);
      }
      break;
    case "session":
      if (state.tab === "online") loadOnline();
      break;
    case "overflow":
      setStatus("Too many updates at once; reconnecting…", true);
      break;
  }
}

async function loadSlots(machine) {
  const s = await call("slots", { machine: machine });
  if (s.ok) {
    state.slots.set(machine, s.slots);
    renderMachines();
  }
}

// ---- history ---------------------------------------------------------------

const PAGE = 20;

// A machine by the name the machine list shows, or by its id when it has
// none here (deleted since).
function machineName(id) {
  const m = state.machines.get(id);
  return m && m.name ? m.name : id;
}

// A refund carries its drop's machine, slot and item: it says what it
// gave back, as drink history does.
function describe(t) {
  const drop = () => (t.item || "item") + " from " + machineName(t.machine) + " slot " + t.slot;
  switch (t.kind) {
    case "drop": return drop();
    case "transfer": return (t.amount < 0 ? "to " : "from ") + t.counterparty + (t.note ? ": " + t.note : "");
    case "refund": return "refund" + (t.machine ? " of " + drop() : "") + (t.note ? ": " + t.note : "");
    default: return t.kind + (t.note ? ": " + t.note : "");
  }
}

// A failed drop moved no money: its price is shown struck through.
function amountCell(t) {
  if (t.state === "failed") {
    return h("td", { class: "num amount", title: "not charged" },
      h("s", {}, signed(t.amount)), " ", h("span", { class: "hint" }, "not charged"));
  }
  return h("td", { class: "num amount" }, signed(t.amount));
}

async function loadHistory(before) {
  const args = { limit: PAGE };
  if (before) args.before = before;
  const r = await call("history", args);
  if (!r.ok) {
    readFailed($("#history tbody"), "your history", r, () => loadHistory(before));
    return;
  }
  const body = $("#history tbody");
  body.replaceChildren(...r.transactions.map((t) => h("tr", {},
    h("td", { class: "tx" }, t.tx), h("td", { class: "time" }, when(t.time)),
    h("td", { class: "what" }, describe(t)), amountCell(t),
    h("td", { class: "tx-state" }, t.state === "completed" && t.refund ? "refunded" : t.state))));
  if (r.transactions.length === 0) {
    body.append(h("tr", {}, h("td", { colspan: 5, class: "hint" }, "Nothing here yet.")));
  }
  state.historyOldest = r.transactions.length ? r.transactions[r.transactions.length - 1].tx : null;
  $("#history-older").disabled = r.transactions.length < PAGE;
  $("#history-newer").disabled = state.historyBefore.length === 0;
}

function historyOlder() {
  if (!state.historyOldest) return;
  state.historyBefore.push(state.historyOldest);
  loadHistory(state.historyOldest);
}

function historyNewer() {
  state.historyBefore.pop();
  const before = state.historyBefore[state.historyBefore.length - 1] || null;
  loadHistory(before);
}

// ---- forms -----------------------------------------------------------------

// Run a form's request; show the error in its alert, or reset it.  The
// status line's last outcome goes: this action's replaces it.
function formHandler(form, run) {
  clearOnInput(form, form.querySelector(".error"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = form.querySelector(".error");
    const button = form.querySelector("button[type=submit]");
    err.textContent = "";
    setStatus("");
    button.disabled = true;
    try {
      const msg = await run();
      if (msg) {
        err.textContent = msg;
      }
    } finally {
      button.disabled = false;
    }
  });
}

// An error told of what the fields held: it goes when they change.
function clearOnInput(box, err) {
  const clear = () => { err.textContent = ""; };
  box.addEventListener("input", clear);
  box.addEventListener("change", clear);
}

function formReset(form) {
  form.reset();
  for (const err of form.querySelectorAll(".error")) err.textContent = "";
}

// A button that sends a request does nothing more until its reply comes:
// a second tap would send it again, and its refusal ("no such card")
// would then stand where the first one's outcome should.  It is not
// disabled, which would take the focus from it (and a keyboard user's
// place on the page with it).
const busyButtons = new WeakSet();

// A page logged in by its kept token (a reload) does what a stolen token
// must not (bind a card, add or change a user, change a machine) only
// with the password (protocol: card_add, user_add, user_mod,
// machine_mod).  This is the field for it, hidden until the server asks;
// what: the change, in words after "to".
// add() puts it in the request under field, or says it is missing;
// refused() reads a reply and gives the words to show when the password
// was asked for (a wrong one is cleared, and said by explain()).  Once the
// server has it, the connection needs it no more: the field goes with the
// next reset(), keeping what else was typed until then.
function ownPassword(cls, what) {
  const input = h("input", { class: cls, type: "password", autocomplete: "current-password" });
  const row = h("label", { class: cls + "-row", hidden: true }, "Your password ", input);
  return {
    row: row,
    add(args, field) {
      if (row.hidden) return null;
      if (!input.value) {
        input.focus();
        return "Enter your password to " + what + ".";
      }
      args[field] = input.value;
      return null;
    },
    refused(r) {
      if (!r.ok && r.error === "forbidden" && row.hidden) {
        row.hidden = false;
        input.focus();
        return "Enter your password to " + what + ": this browser stayed logged in without it.";
      }
      if (!r.ok && r.error === "bad_credentials" && !row.hidden) {
        input.value = "";
        input.focus();
      }
      return null;
    },
    reset() {
      row.hidden = true;
      input.value = "";
    },
    // A change by a button (under Users, Set up): cmd sent with the
    // password in your_password when asked for.  The reply, or null when
    // the status line now asks for the password, to press the button
    // again with it.
    async send(cmd, args) {
      const missing = this.add(args, "your_password");
      if (missing) {
        setStatus(missing + " Then press the button again.", true);
        return null;
      }
      const r = await call(cmd, args);
      const asked = this.refused(r);
      if (asked) {
        setStatus(asked + " Then press the button again.", true);
        return null;
      }
      if (r.ok) this.reset();
      return r;
    },
  };
}

function once(run) {
  return async (ev) => {
    const button = ev.currentTarget;
    if (busyButtons.has(button)) return;
    busyButtons.add(button);
    try {
      await run(button);
    } finally {
      busyButtons.delete(button);
    }
  };
}

function wholeNumber(text) {
  return /^[0-9]+$/.test(text.trim()) ? Number(text) : NaN;
}

// A whole number with its sign, for a field whose range the server's
// refusal states better than "whole numbers" does (-5 is one).
function signedWhole(text) {
  return /^-?[0-9]+$/.test(text.trim()) ? Number(text) : NaN;
}

function setupForms() {
  $("#login-form").addEventListener("submit", passwordLogin);
  clearOnInput($("#login-form"), $("#login-error"));
  $("#logout").addEventListener("click", logout);
  $("#history-older").addEventListener("click", historyOlder);
  $("#history-newer").addEventListener("click", historyNewer);
  $("#log-older").addEventListener("click", () => loadLog(true));
  $("#money-cancel").addEventListener("click", () => { $("#money-form").hidden = true; });
  $("#user-cards-close").addEventListener("click", () => { $("#user-cards").hidden = true; });
  state.loadMyCards = cardsPanel($("#my-cards"), null);

  formHandler($("#send-form"), async () => {
    const amount = wholeNumber($("#send-amount").value);
    if (!(amount > 0)) return "The amount must be a whole number above 0.";
    const args = { to: $("#send-to").value.trim().toLowerCase(), amount: amount };
    if ($("#send-note").value) args.note = $("#send-note").value;
    const r = await call("send", args);
    if (!r.ok) return explain(r);
    setStatus("Sent " + amount + " credits to " + args.to + ".");
    $("#send-form").reset();
    return null;
  });

  formHandler($("#passwd-form"), async () => {
    if ($("#passwd-new").value !== $("#passwd-again").value) {
      return "The two new passwords are not the same.";
    }
    const r = await call("passwd", { old: $("#passwd-old").value, new: $("#passwd-new").value });
    if (!r.ok) return r.error === "bad_credentials" ? "The current password is wrong." : explain(r);
    // A new password revokes every token, ours included: make a new one,
    // of the kind the login chose (where its token is kept tells which).
    const stay = !!localStorage.getItem(TOKEN_KEY);
    forgetToken();
    await keepToken(stay);
    $("#passwd-form").reset();
    setStatus("Password changed. Other devices are logged out.");
    loadTokens();
    return null;
  });

  const addOwn = ownPassword("useradd-own", "add a user");
  $("#useradd-form .error").before(addOwn.row);
  $("#useradd-form").addEventListener("reset", addOwn.reset);
  $("#users").parentElement.after(usersOwn.row);
  $("#admin-machines").after(machinesOwn.row);
  formHandler($("#useradd-form"), async () => {
    const balance = wholeNumber($("#useradd-balance").value || "0");
    if (isNaN(balance)) return "The balance must be a whole number.";
    // Lower-cased, as the login and Send take a name.
    const user = $("#useradd-user").value.trim().toLowerCase();
    const args = {
      user: user, password: $("#useradd-password").value,
      role: $("#useradd-role").value, balance: balance,
    };
    const missing = addOwn.add(args, "your_password");
    if (missing) return missing;
    const r = await call("user_add", args);
    const asked = addOwn.refused(r);
    if (asked) return asked;
    if (!r.ok) return explain(r);
    $("#useradd-form").reset();
    setStatus("User " + user + " added.");
    loadUsers();
    return null;
  });

  formHandler($("#money-form"), async () => {
    const kind = $("#money-kind").value;
    const amount = wholeNumber($("#money-amount").value);
    if (isNaN(amount)) return "The amount must be a whole number.";
    const args = { user: state.moneyUser, note: $("#money-note").value };
    args[kind === "set_balance" ? "balance" : "amount"] = amount;
    const r = await call(kind, args);
    if (!r.ok) return explain(r, state.moneyUser);
    $("#money-form").hidden = true;
    setStatus("Balance of " + state.moneyUser + " is now " + r.balance + ".");
    loadUsers();
    return null;
  });

  formHandler($("#machineadd-form"), async () => {
    const machine = $("#machineadd-id").value.trim().toLowerCase();
    const r = await call("machine_add", { machine: machine, name: $("#machineadd-name").value.trim() });
    if (!r.ok) return explain(r);
    $("#machineadd-form").reset();
    setStatus("Machine " + machine + " added.");
    return null;
  });

  formHandler($("#log-form"), async () => {
    await loadLog(false);
    return null;
  });
}

// ---- tokens ------------------------------------------------------------------

async function loadTokens() {
  const r = await call("tokens");
  if (!r.ok) {
    readFailed($("#tokens tbody"), "your logged-in devices", r, loadTokens);
    return;
  }
  const mine = myTokenId();
  // Each Revoke is named for its device: a screen reader's list of
  // buttons would read just "Revoke" for every one.
  $("#tokens tbody").replaceChildren(...r.tokens.map((t) => h("tr", {},
    h("td", { class: "label" }, (t.label || "(no label)") + (t.token_id === mine ? " — this browser" : "")),
    h("td", { "data-label": "Created" }, when(t.created)),
    h("td", { "data-label": "Last used" }, when(t.last_used)),
    h("td", { "data-label": "Expires" }, when(t.expires)),
    h("td", {}, h("button", {
      type: "button", class: "quiet",
      "aria-label": "Revoke " + (t.label || "the device with no label, created " + when(t.created)) +
        (t.token_id === mine ? " (this browser)" : ""),
      on: { click: once(() => revokeToken(t, t.token_id === mine)) },
    }, "Revoke")))));
}

// Revoking this browser's own login logs it out: asked first, then done
// as Log out does, so a reload does not find the login form unexplained.
async function revokeToken(t, mine) {
  if (mine && !confirm("Revoke this browser's login? This logs you out here.")) return;
  const r = await call("token_revoke", { token_id: t.token_id });
  if (!r.ok) {
    setStatus(explain(r), true);
    return;
  }
  if (mine) {
    await endSession("This browser's login was revoked.", true);
    return;
  }
  setStatus("Revoked " + (t.label || "the device with no label") + ".");
  loadTokens();
}

// ---- cards ------------------------------------------------------------------

// Readers print a UID with spaces, colons or dashes between the bytes; the
// server takes the hex digits alone.  null when it is not 4-32 hex digits.
function cardUid(text) {
  const uid = text.replace(/[\s:-]/g, "");
  return /^[0-9a-fA-F]{4,32}$/.test(uid) ? uid : null;
}

function cardError(r) {
  return explain(r);
}

// A list of cards with a form to add one, in box: one's own (user null) or,
// for an admin, the named user's.  Returns the function that reloads it.
// A page logged in by its kept token (a reload) binds a card only with the
// password, asked for in the form (ownPassword).
function cardsPanel(box, user) {
  const who = user ? { user: user } : {};
  const body = h("tbody");
  const uid = h("input", {
    class: "card-uid", autocapitalize: "none", autocomplete: "off", spellcheck: "false",
    maxlength: 64, placeholder: "04A2B3C4D5E680", required: true,
  });
  const label = h("input", { class: "card-label", maxlength: 200, placeholder: "blue key fob" });
  const own = ownPassword("card-password", "add a card");
  const form = h("form", { class: "row card-add" },
    h("label", {}, "Card number (UID) ", uid),
    h("label", { class: "grow" }, "Label (optional) ", label),
    own.row,
    h("p", { class: "error", role: "alert" }),
    h("button", { type: "submit" }, "Add card"));
  const err = form.querySelector(".error");
  form.addEventListener("reset", own.reset);

  // Its outcome goes in the status line, as a row's other actions' do:
  // the form's error line is the form's, and on a phone it is below the
  // screen's edge under a few cards.
  async function del(c) {
    const r = await call("card_del", Object.assign({ card_id: c.card_id }, who));
    setStatus(r.ok ? "Card " + (c.label || c.card_id) + " removed." : cardError(r), !r.ok);
    await load();
  }

  async function load() {
    const r = await call("cards", who);
    if (!box.contains(form)) box.replaceChildren(...panel);
    if (!r.ok) {
      err.textContent = cardError(r);
      return;
    }
    body.replaceChildren(...r.cards.map((c) => h("tr", { dataset: { cardId: String(c.card_id) } },
      h("td", { class: "num id" }, c.card_id),
      h("td", { class: "label" }, c.label || "(no label)"),
      h("td", { class: "created", "data-label": "Added" }, when(c.created)),
      h("td", { class: "used", "data-label": "Last used" }, when(c.last_used)),
      h("td", { class: "del" }, h("button", {
        type: "button", class: "quiet", "aria-label": "Remove card " + (c.label || c.card_id),
        on: { click: once(() => del(c)) },
      }, "Remove")))));
    if (r.cards.length === 0) {
      body.append(h("tr", {}, h("td", { colspan: 5, class: "hint" }, "No cards yet.")));
    }
  }

  formHandler(form, async () => {
    const u = cardUid(uid.value);
    if (!u) return "A card number is 4 to 32 hex digits (0-9, A-F).";
    const args = Object.assign({ card: u }, who);
    if (label.value.trim()) args.label = label.value.trim();
    const missing = own.add(args, "password");
    if (missing) return missing;
    const r = await call("card_add", args);
    const asked = own.refused(r);
    if (asked) return asked;
    if (!r.ok) return cardError(r);
    form.reset();
    setStatus("Card " + (args.label || r.card_id) + " added" + (user ? " for " + user : "") + ".");
    await load();
    return null;
  });

  // The list and the form below it are drawn together, once the list has
  // come: a form drawn under a list still empty would move down when the
  // list came (after a login's own requests, just after a login), from
  // under a finger already on its way to it, and what was typed then
  // would go nowhere.
  const panel = [
    h("div", { class: "scroll" }, h("table", { class: "list cards" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "No."), h("th", {}, "Label"),
        h("th", {}, "Added"), h("th", {}, "Last used"), h("th", {}))),
      body)),
    h("h3", {}, "Add a card"),
    form,
  ];
  box.replaceChildren(h("p", { class: "hint" }, "Reading the cards…"));
  return load;
}

function userCards(u) {
  setStatus("");
  $("#user-cards-title").textContent = "Cards of " + u.user;
  const panel = $("#user-cards");
  panel.hidden = false;
  cardsPanel($("#user-cards-box"), u.user)();
  // It opens below the whole list, on a phone out of sight: brought up,
  // as the balance form is by its focused field.
  const r = panel.getBoundingClientRect();
  if (r.top < 0 || r.bottom > innerHeight) panel.scrollIntoView({ block: "start" });
}

// ---- admin: users --------------------------------------------------------------

async function loadUsers() {
  // Add a user comes under the list, drawn with it the first time (as a
  // card list's form is): drawn under a list still empty, it would move
  // down when the list came, from under a finger already on its way.
  const add = [$("#useradd-form").previousElementSibling, $("#useradd-form")];
  if ($("#users tbody").rows.length === 0) for (const e of add) e.hidden = true;
  const r = await call("users");
  for (const e of add) e.hidden = false;
  if (!r.ok) {
    readFailed($("#users tbody"), "the users", r, loadUsers);
    return;
  }
  $("#users tbody").replaceChildren(...r.users.map((u) => h("tr", { dataset: { user: u.user } },
    h("td", { class: "user" }, u.user), h("td", { class: "role" }, u.role),
    h("td", { class: "num balance", "data-label": "Balance" }, u.balance),
    h("td", { class: "ustate" }, u.disabled ? "disabled" : "active"),
    h("td", { class: "seen", "data-label": "Last seen" }, when(u.last_seen)),
    // Each button names its user for a screen reader, which would
    // otherwise read the same four words on every row.
    h("td", { class: "actions" },
      h("button", {
        type: "button", class: "quiet", "aria-label": "Balance of " + u.user + "…",
        on: { click: () => moneyForm(u) },
      }, "Balance…"),
      h("button", {
        type: "button", class: "quiet cards", "aria-label": "Cards of " + u.user + "…",
        on: { click: () => userCards(u) },
      }, "Cards…"),
      h("button", {
        type: "button", class: "quiet",
        "aria-label": "Make " + u.user + (u.role === "admin" ? " a member" : " an admin"),
        on: { click: once(() => userMod(u, { role: u.role === "admin" ? "member" : "admin" })) },
      }, u.role === "admin" ? "Make member" : "Make admin"),
      h("button", {
        type: "button", class: "quiet", "aria-label": (u.disabled ? "Enable " : "Disable ") + u.user,
        on: { click: once(() => userMod(u, { disabled: !u.disabled })) },
      }, u.disabled ? "Enable" : "Disable")))));
}

// The balance form, for u: it opens empty and on Credit every time, so an
// amount, note or action typed for one user is never applied to the next.
function moneyForm(u) {
  state.moneyUser = u.user;
  formReset($("#money-form"));
  setStatus("");
  $("#money-title").textContent = "Balance of " + u.user + " (now " + u.balance + ")";
  $("#money-form").hidden = false;
  $("#money-amount").focus();
}

// The password a page logged in by its token gives for a row's change,
// asked for under the list; the row's button is then pressed again.
const usersOwn = ownPassword("users-own", "change a user");

async function userMod(u, change) {
  // Taking one's own admin role or account away locks oneself out.
  if (u.user === state.user && ("role" in change || change.disabled) &&
      !confirm("role" in change ? "Make yourself a member? You lose the admin screens." :
        "Disable your own account? You cannot log in again.")) {
    return;
  }
  const r = await usersOwn.send("user_mod", Object.assign({ user: u.user }, change));
  if (!r) return;
  setStatus(r.ok ? "User " + u.user + " updated." : explain(r), !r.ok);
  loadUsers();
}

// ---- admin: machines and slots ------------------------------------------------------

// Drawn at once from what is known, so no unsaved edit of the last visit
// shows while the server's answer comes; then drawn again from it.
function loadAdminMachines() {
  renderAdminMachines();
  return loadMachines();
}

function renderAdminMachines() {
  const box = $("#admin-machines");
  box.replaceChildren();
  for (const m of state.machines.values()) {
    const name = h("input", { value: m.name, "aria-label": "Display name of " + m.machine, maxlength: 200 });
    const slots = state.slots.get(m.machine) || [];
    const slotRow = (s) => {
      const item = h("input", { value: s.item || "", "aria-label": "Item in slot " + s.slot, maxlength: 200 });
      const price = h("input", { type: "number", min: 0, step: 1, value: s.price, "aria-label": "Price of slot " + s.slot, class: "short" });
      const stock = h("input", { type: "number", min: 0, step: 1, value: s.stock, "aria-label": "Stock of slot " + s.slot, class: "short" });
      const enabled = h("input", { type: "checkbox", checked: s.enabled !== false, "aria-label": "Slot " + s.slot + " enabled" });
      const err = h("span", { class: "error", role: "alert" });
      const row = h("tr", { dataset: { slot: String(s.slot) } },
        h("td", { class: "slotno", "data-label": "Slot" }, s.slot), h("td", { class: "item" }, item),
        h("td", { "data-label": "Price" }, price), h("td", { "data-label": "Stock" }, stock),
        h("td", { "data-label": "On" }, enabled),
        h("td", { class: "save" }, h("button", {
          type: "button", class: "quiet",
          on: {
            click: once(async () => {
              setStatus("");
              // A negative number goes to the server, whose refusal
              // names the field and its range.
              const p = signedWhole(price.value), st = signedWhole(stock.value);
              if (isNaN(p) || isNaN(st)) { err.textContent = "Price and stock are whole numbers."; return; }
              const r = await call("slot_set", { machine: m.machine, slot: s.slot, item: item.value, price: p, stock: st, enabled: enabled.checked });
              err.textContent = r.ok ? "" : explain(r);
              if (r.ok) setStatus("Slot " + s.slot + " of " + m.name + " saved.");
            }),
          },
        }, "Save"), err));
      clearOnInput(row, err);
      return row;
    };
    const body = h("tbody", {}, slots.map(slotRow));
    const newSlot = h("input", { type: "number", min: 1, max: 255, step: 1, class: "short", "aria-label": "New slot number" });
    // A new slot is made with what it sells and its price (the server
    // refuses one without); stock and the switch are set in its row.
    const newItem = h("input", { "aria-label": "New slot's item", maxlength: 200 });
    const newPrice = h("input", { type: "number", min: 0, step: 1, class: "short", "aria-label": "New slot's price" });
    // The switch asks for the opposite of what is known when tapped, not
    // of what was known when the card was drawn: the card outlives
    // machine events while the admin edits in it.
    const card = h("article", { class: "card", dataset: { machine: m.machine } },
      h("div", { class: "row" },
        h("strong", {}, m.machine), name,
        h("button", { type: "button", class: "quiet", on: { click: once(() => machineMod(m.machine, { name: name.value })) } }, "Rename"),
        h("button", {
          type: "button", class: "quiet switch",
          on: { click: once(() => machineMod(m.machine, { enabled: !(state.machines.get(m.machine) || m).enabled })) },
        }),
        h("span", { class: "state" })),
      h("div", { class: "scroll" }, h("table", { class: "list stack slots-edit" },
        h("thead", {}, h("tr", {}, h("th", {}, "Slot"), h("th", {}, "Item"), h("th", {}, "Price"),
          h("th", {}, "Stock"), h("th", {}, "On"), h("th", {}))),
        body)),
      // Said beside it: an empty box there could as well be for an item.
      h("div", { class: "row" }, h("label", {}, "New slot number ", newSlot), h("label", {}, "Item ", newItem),
        h("label", {}, "Price ", newPrice), h("button", {
        type: "button", class: "quiet",
        on: {
          click: once(async () => {
            const n = wholeNumber(newSlot.value);
            if (!(n >= 1 && n <= 255)) { setStatus("A slot number is 1 to 255.", true); return; }
            // slot_set on a slot that is there changes it: nothing would
            // be added.
            if (body.querySelector("tr[data-slot='" + n + "']")) {
              setStatus("Slot " + n + " of " + m.name + " is already set up; change it in its row.", true);
              return;
            }
            const p = wholeNumber(newPrice.value);
            if (newItem.value.trim() === "" || isNaN(p)) {
              setStatus("A new slot needs its item and a price (a whole number).", true);
              return;
            }
            const r = await call("slot_set", { machine: m.machine, slot: n, item: newItem.value, price: p });
            setStatus(r.ok ? "Slot " + n + " added." : explain(r), !r.ok);
            if (!r.ok) return;
            newSlot.value = "";
            newItem.value = "";
            newPrice.value = "";
            // The slot event redraws nothing while focus is in this panel
            // (that would undo unsaved edits): the new row goes in here.
            if (!body.querySelector("tr[data-slot='" + n + "']")) {
              const next = [...body.rows].find((tr) => Number(tr.dataset.slot) > n);
              body.insertBefore(slotRow(r), next || null);
            }
          }),
        },
      }, "Add slot")));
    adminMachineShow(card, m);
    box.append(card);
  }
}

// What a Set up card shows of its machine that changes without the
// admin typing: the switch's word and the state.
function adminMachineShow(card, m) {
  const st = machineState(m);
  card.querySelector("button.switch").textContent = m.enabled ? "Switch off" : "Switch on";
  const el = card.querySelector(".state");
  el.className = "state " + st.cls;
  el.textContent = st.text;
}

// The password a page logged in by its token gives for a machine's
// change (protocol: machine_mod), asked for under the machines; the
// card's button is then pressed again.
const machinesOwn = ownPassword("machines-own", "change a machine");

// The reply says only ok; the machine's event may come before or after
// it, so the change is taken as made at once and shown on both screens.
async function machineMod(id, change) {
  const r = await machinesOwn.send("machine_mod", Object.assign({ machine: id }, change));
  if (!r) return;
  if (!r.ok) {
    setStatus(explain(r), true);
    return;
  }
  setStatus("Machine " + id + ("enabled" in change ? " switched " + (change.enabled ? "on." : "off.") : " updated."));
  const m = state.machines.get(id);
  if (m) {
    state.machines.set(id, Object.assign({}, m, change));
    renderMachines();
    adminMachinesRefresh();
  }
}

// ---- admin: log --------------------------------------------------------------------

// The log request for the filter as typed.  A machine may be given as
// the rows name it, by its display name, as well as by its id.
function logFilter() {
  const args = { limit: 50 };
  for (const f of ["user", "machine", "kind"]) {
    const v = $("#log-" + f).value.trim().toLowerCase();
    if (v) args[f] = v;
  }
  if (args.machine && !state.machines.has(args.machine)) {
    const m = [...state.machines.values()].find((x) => (x.name || "").toLowerCase() === args.machine);
    if (m) args.machine = m.machine;
  }
  const since = $("#log-since").value, until = $("#log-until").value;
  if (since) args.since = Math.floor(new Date(since + "T00:00").getTime() / 1000);
  if (until) args.until = Math.floor(new Date(until + "T23:59:59").getTime() / 1000);
  // Said here in the form's words, not as the server's refusal in unix
  // seconds (protocol: log): null, and nothing is asked.
  if (since && until && args.since > args.until) {
    $("#log-form .error").textContent = "Since is after Until, so no entry could match.";
    return null;
  }
  return args;
}

// A refused filter has no list: the one shown answered another filter
// and would read as this one's.
function logClear() {
  $("#log tbody").replaceChildren();
  state.logArgs = null;
  state.logBefore = null;
  $("#log-older").disabled = true;
}

// Older goes on with the list shown, read with the filter it was shown
// for, and again (after a refund) reads that list afresh: what has been
// typed into the fields since waits for Show.
async function loadLog(older, again) {
  if (older && !(state.logArgs && state.logBefore)) return;
  // The machines to pick from for the filter, as they are now.
  $("#log-machines").replaceChildren(...[...state.machines.values()].map((m) =>
    h("option", { value: m.machine, label: m.name || m.machine })));
  const args = older ? Object.assign({}, state.logArgs, { before: state.logBefore }) :
    again && state.logArgs ? state.logArgs : logFilter();
  if (args === null) {
    logClear();
    return;
  }
  const r = await call("log", args);
  const err = $("#log-form .error");
  if (!r.ok) {
    err.textContent = explain(r);
    if (!older) logClear();
    return;
  }
  err.textContent = "";
  if (!older) state.logArgs = args;
  // A drop that was refunded names its refund: no second Refund.
  const rows = r.transactions.map((t) => h("tr", { dataset: { tx: String(t.tx) } },
    h("td", { class: "tx", "data-label": "tx" }, t.tx), h("td", { class: "time" }, when(t.time)),
    h("td", { class: "user" }, t.user), h("td", { class: "what" }, describe(t)),
    amountCell(t), h("td", { class: "tx-state" }, t.refund ? "refunded (tx " + t.refund + ")" : t.state),
    h("td", { class: "act" }, t.kind === "drop" && t.state === "completed" && !t.refund ? h("button", {
      type: "button", class: "quiet refund", on: { click: once(() => refund(t)) },
    }, "Refund") : "")));
  if (older) $("#log tbody").append(...rows); else $("#log tbody").replaceChildren(...rows);
  if (!older && rows.length === 0) {
    // Said as History says it; a filter is named when it is the user alone.
    const filtered = Object.keys(args).some((k) => k !== "limit");
    const only = Object.keys(args).length === 2 && args.user;
    $("#log tbody").append(h("tr", {}, h("td", { colspan: 7, class: "hint" },
      only ? "No entries for " + args.user + "." : filtered ? "No entries match the filter." : "Nothing here yet.")));
  }
  state.logBefore = r.transactions.length ? r.transactions[r.transactions.length - 1].tx : null;
  $("#log-older").disabled = r.transactions.length < 50;
}

async function refund(t) {
  const note = prompt("Refund " + (t.item || "drop") + " (tx " + t.tx + ") to " + t.user + ". Reason:", "");
  if (note === null) return;
  // The reason is the ledger's note, which may not be blank: said in the
  // prompt's words rather than sent to be refused as "the note".
  if (!note.trim()) {
    setStatus("A refund needs a reason, for the ledger; nothing was refunded.", true);
    return;
  }
  const r = await call("refund", { tx: t.tx, note: note });
  setStatus(r.ok ? "Refunded tx " + t.tx + "." : explain(r), !r.ok);
  if (r.ok) loadLog(false, true);
}

// ---- admin: online -------------------------------------------------------------------

// Redrawn in place on every session event (see morphChildren): a Kick
// reads its session from its button.
async function loadOnline() {
  const r = await call("who");
  if (!r.ok) {
    readFailed($("#online tbody"), "who is online", r, loadOnline);
    return;
  }
  const want = document.createElement("tbody");
  want.append(...r.clients.map((c) => h("tr", {},
    h("td", { "data-label": "Session" }, c.session), h("td", {}, c.kind),
    h("td", { class: "label" }, c.user || c.machine || "—"),
    h("td", { "data-label": "From" }, c.address + ":" + c.port),
    h("td", { "data-label": "Since" }, when(c.since)),
    h("td", {}, h("button", {
      type: "button", class: "quiet",
      "aria-label": "Kick session " + c.session + " (" + (c.user || c.machine || c.kind) + " from " + c.address + ")",
      dataset: { session: String(c.session) },
      on: {
        // Asked first, as drink kick asks; this page's own session
        // is not kicked: the page would only be cut off and log in again.
        click: once(async (button) => {
          const session = Number(button.dataset.session);
          const me = await call("whoami");
          if (!me.ok) {
            setStatus(explain(me), true);
            return;
          }
          if (me.session === session) {
            setStatus("Session " + session + " is this page's own; log out to end it.", true);
            return;
          }
          if (!confirm(button.getAttribute("aria-label") + "?")) return;
          const k = await call("kick", { session: session });
          setStatus(k.ok ? "Session " + session + " closed." : explain(k), !k.ok);
        }),
      },
    }, "Kick")))));
  morphChildren($("#online tbody"), want);
}

// ---- start ------------------------------------------------------------------------------

async function start() {
  setupForms();
  await connect();
  const token = storedToken();
  if (token && (await tokenLogin(token))) return;
  showLogin("");
}

start();
