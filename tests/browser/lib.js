// The browser tests' shared driver: headless Chromium over the DevTools
// protocol on a pipe (--remote-debugging-pipe), node's own modules only, no
// driver library to pin; a simulated controller for m1; the checks the
// scripts share.  Used by e2e.js and screens.js, which tests/check_browser.c
// starts with, in the environment:
//   WEB_URL        https://localhost:PORT/
//   MACHINE_PORT   the machine port, for drink-machine
//   CERTS          the test certificate directory
//   BUILD          the build directory (drink-machine)
//   SHOTS          where screenshots go
"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const env = process.env;
const CHROMIUM = env.CHROMIUM || "/usr/bin/chromium";
const STEP_MS = 20000;

function log(...args) {
  console.log("[" + new Date().toISOString().slice(11, 23) + "]", ...args);
}

// ---- the DevTools protocol over a pipe --------------------------------------

class Browser {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "drink-chromium-"));
    this.proc = spawn(CHROMIUM, [
      "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
      "--disable-gpu", "--no-first-run", "--no-default-browser-check",
      "--disable-extensions", "--disable-background-networking",
      // The test CA is not in this profile's trust store.
      "--ignore-certificate-errors",
      "--user-data-dir=" + this.dir, "--window-size=1200,900", "about:blank",
    ], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
    this.proc.stderr.on("data", () => {});
    this.out = this.proc.stdio[3];
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    let buf = Buffer.alloc(0);
    this.proc.stdio[4].on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let nul;
      while ((nul = buf.indexOf(0)) >= 0) {
        const msg = JSON.parse(buf.subarray(0, nul).toString("utf8"));
        buf = buf.subarray(nul + 1);
        this.dispatch(msg);
      }
    });
  }

  dispatch(msg) {
    if (msg.id !== undefined && this.pending.has(msg.id)) {
      const { resolve, reject } = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result);
      return;
    }
    for (const l of this.listeners) l(msg);
  }

  send(method, params, sessionId) {
    const id = this.nextId++;
    const msg = { id: id, method: method, params: params || {} };
    if (sessionId) msg.sessionId = sessionId;
    this.out.write(JSON.stringify(msg) + "\0");
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      setTimeout(() => {
        if (this.pending.has(id)) {
          this.pending.delete(id);
          reject(new Error(method + ": no answer from the browser"));
        }
      }, STEP_MS);
    });
  }

  // A page in a fresh browser context (its own cookies and storage).
  async page(name) {
    const { browserContextId } = await this.send("Target.createBrowserContext");
    const { targetId } = await this.send("Target.createTarget",
      { url: "about:blank", browserContextId: browserContextId });
    const { sessionId } = await this.send("Target.attachToTarget",
      { targetId: targetId, flatten: true });
    const page = new Page(this, sessionId, name);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Network.enable");
    this.listeners.push((msg) => {
      // Every request the page sends on its WebSocket, parsed.
      if (msg.sessionId === sessionId && msg.method === "Network.webSocketFrameSent") {
        try {
          page.sent.push(JSON.parse(msg.params.response.payloadData));
        } catch (e) {
          // not a JSON frame
        }
      }
      // confirm() and prompt() are answered as page.dialogs says, and noted.
      if (msg.sessionId === sessionId && msg.method === "Page.javascriptDialogOpening") {
        page.asked.push(msg.params.message);
        this.send("Page.handleJavaScriptDialog", {
          accept: page.dialogAnswer !== null, promptText: page.dialogAnswer || "",
        }, sessionId).catch(() => {});
      }
      if (msg.sessionId === sessionId && msg.method === "Runtime.exceptionThrown") {
        page.errors.push(msg.params.exceptionDetails.text + " " +
          JSON.stringify(msg.params.exceptionDetails.exception || {}).slice(0, 200));
      }
      if (msg.sessionId === sessionId && msg.method === "Runtime.consoleAPICalled" &&
          msg.params.type === "error") {
        page.errors.push("console.error: " + JSON.stringify(msg.params.args).slice(0, 300));
      }
    });
    return page;
  }

  async close() {
    const gone = new Promise((r) => this.proc.once("exit", r));
    this.proc.kill("SIGKILL");
    await Promise.race([gone, sleep(3000)]);
    try {
      fs.rmSync(this.dir, { recursive: true, force: true });
    } catch (e) {
      log("could not remove", this.dir + ":", e.message);
    }
  }
}

class Page {
  constructor(browser, sessionId, name) {
    this.b = browser;
    this.sid = sessionId;
    this.name = name;
    this.errors = [];
    this.sent = [];          // requests sent on the WebSocket
    this.asked = [];         // the texts of confirm() and prompt() dialogs
    this.dialogAnswer = "";  // a prompt's answer ("" accepts a confirm); null: cancel
  }

  // The requests of one command the page has sent so far.
  sentCmd(cmd) {
    return this.sent.filter((m) => m.cmd === cmd);
  }

  send(method, params) {
    return this.b.send(method, params, this.sid);
  }

  async eval(expr) {
    const r = await this.send("Runtime.evaluate",
      { expression: expr, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) {
      throw new Error(this.name + ": " + expr + ": " + r.exceptionDetails.text);
    }
    return r.result.value;
  }

  // Poll expr until it is truthy; returns its value and how long it took.
  async waitFor(expr, what, ms) {
    const t0 = Date.now();
    let v;
    while (Date.now() - t0 < (ms || STEP_MS)) {
      v = await this.eval(expr);
      if (v) return { value: v, ms: Date.now() - t0 };
      await sleep(50);
    }
    await this.shot("FAILED-" + this.name);
    throw new Error(this.name + ": timed out waiting for " + what + " (" + expr + " = " +
      JSON.stringify(v) + ")");
  }

  async goto(url) {
    await this.send("Page.navigate", { url: url });
    await this.waitFor("document.readyState === 'complete'", "the page to load");
  }

  // clip: {x, y, width, height} of the page, else the whole window.
  async shot(name, clip) {
    const r = await this.send("Page.captureScreenshot",
      clip ? { format: "png", clip: Object.assign({ scale: 1 }, clip) } : { format: "png" });
    const file = path.join(env.SHOTS, name + ".png");
    fs.writeFileSync(file, Buffer.from(r.data, "base64"));
    log("screenshot", file);
  }

  // Focus a field and type into it as a keyboard would.
  async type(selector, text) {
    await this.eval("document.querySelector(" + JSON.stringify(selector) + ").focus()");
    await this.eval("document.querySelector(" + JSON.stringify(selector) + ").select?.()");
    await this.send("Input.insertText", { text: text });
  }

  async key(key, code, keyCode) {
    const base = { key: key, code: code, windowsVirtualKeyCode: keyCode, nativeVirtualKeyCode: keyCode };
    await this.send("Input.dispatchKeyEvent", Object.assign({ type: "rawKeyDown" }, base,
      key === "Enter" ? { text: "\r", unmodifiedText: "\r" } : {}));
    if (key === "Enter") {
      await this.send("Input.dispatchKeyEvent", Object.assign({ type: "char", text: "\r", unmodifiedText: "\r" }, base));
    }
    await this.send("Input.dispatchKeyEvent", Object.assign({ type: "keyUp" }, base));
  }

  // Clicks selector once it is there and enabled: what a person does, who
  // waits for the button to appear (tabs are drawn when the login reply
  // arrives, lists when theirs does).
  async click(selector, ms = 5000) {
    const js = "(() => { const e = document.querySelector(" +
      JSON.stringify(selector) + "); if (!e || e.disabled) return false; e.click(); return true; })()";
    let ok = await this.eval(js);
    for (const until = Date.now() + ms; !ok && Date.now() < until; ) {
      await sleep(50);
      ok = await this.eval(js);
    }
    if (!ok) {
      await this.shot("FAILED-" + this.name);
      throw new Error(this.name + ": cannot click " + selector);
    }
  }

  // Tap selector as a finger does: where it is drawn, after scrolling the
  // page up or down to it but never sideways, since what is off the side
  // of a phone's screen is out of reach.  Fails when it is not drawn
  // inside the window or something else covers it.  aim: the ms a finger
  // takes from seeing the spot to touching it, for a page that may move
  // meanwhile (the touch lands where the spot was seen).
  async tap(selector, ms = 5000, aim = 0) {
    const js = "(() => { const e = document.querySelector(" + JSON.stringify(selector) + ");" +
      " if (!e || e.disabled || !e.checkVisibility()) return null;" +
      " let r = e.getBoundingClientRect();" +
      " if (r.top < 0 || r.bottom > innerHeight) { scrollBy(0, r.top - innerHeight / 2); r = e.getBoundingClientRect(); }" +
      " const x = r.left + r.width / 2, y = r.top + r.height / 2, hit = document.elementFromPoint(x, y);" +
      " return { x: x, y: y, ok: r.left >= 0 && r.right <= document.documentElement.clientWidth &&" +
      " !!hit && (hit === e || e.contains(hit)), at: Math.round(r.left) + '-' + Math.round(r.right) }; })()";
    let at = await this.eval(js);
    for (const until = Date.now() + ms; !at && Date.now() < until; ) {
      await sleep(50);
      at = await this.eval(js);
    }
    if (!at || !at.ok) {
      await this.shot("FAILED-" + this.name);
      throw new Error(this.name + ": cannot tap " + selector + (at ? " (drawn at x " + at.at + ")" : ""));
    }
    if (aim) await sleep(aim);
    const base = { x: at.x, y: at.y, button: "left", clickCount: 1 };
    await this.send("Input.dispatchMouseEvent", Object.assign({ type: "mousePressed" }, base));
    await this.send("Input.dispatchMouseEvent", Object.assign({ type: "mouseReleased" }, base));
  }

  // Tap a field and type into it, after whatever it holds, as a person
  // does (type() replaces the field's value instead).
  async typeInto(selector, text, aim = 0) {
    await this.tap(selector, 5000, aim);
    await this.send("Input.insertText", { text: text });
  }

  value(selector) {
    return this.eval("(document.querySelector(" + JSON.stringify(selector) + ") || {}).value");
  }

  text(selector) {
    return this.eval("(document.querySelector(" + JSON.stringify(selector) +
      ") || {}).textContent");
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- a controller for machine m1 ----------------------------------------------

// m1's simulated controller; cardFile, when given, is its card reader: a
// line "UID SLOT" appended is a tap.
function startMachine(cardFile) {
  return spawn(path.join(env.BUILD, "drink-machine"), [
    "-H", "localhost", "-p", env.MACHINE_PORT,
    "--ca", path.join(env.CERTS, "ca.crt"),
    "--cert", path.join(env.CERTS, "machine-m1.crt"),
    "--key", path.join(env.CERTS, "machine-m1.key"),
    "--simulate", "3:5,4:0", "--vend-ms", "1500", "--temp", "4.2",
  ].concat(cardFile ? ["--card-file", cardFile] : []), { stdio: ["ignore", "ignore", "inherit"] });
}

// A phone's screen (390 x 844), or back to a desktop's.
async function phone(page, on) {
  await page.send("Emulation.setDeviceMetricsOverride", on ?
    { width: 390, height: 844, deviceScaleFactor: 2, mobile: true } :
    { width: 1100, height: 800, deviceScaleFactor: 1, mobile: false });
}

// The window at width x height CSS pixels: a phone's (touch, 2x) when
// narrow, a desktop's otherwise.
async function viewport(page, width, height) {
  const mobile = width <= 520;
  await page.send("Emulation.setDeviceMetricsOverride",
    { width: width, height: height, deviceScaleFactor: mobile ? 2 : 1, mobile: mobile });
}

// The two screens a change is looked at on: a phone and a laptop.
const SIZES = [[390, 844], [1280, 800]];

// Every element matching selector is drawn, inside the window's width:
// "" if so, else what is not.
function fits(page, selector) {
  return page.eval("(() => { const l = [...document.querySelectorAll(" + JSON.stringify(selector) + ")];" +
    " if (l.length === 0) return 'nothing matches';" +
    " const w = document.documentElement.clientWidth;" +
    " return l.map((e) => { const r = e.getBoundingClientRect();" +
    " return r.width > 0 && r.left >= 0 && r.right <= w ? '' :" +
    " (e.textContent || e.value) + ' at ' + r.left + '-' + r.right + ' of ' + w; }).join(''); })()");
}

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  log("ok:", what);
}

const MACHINE = ".machine[data-machine=m1]";
const ONLINE = "(document.querySelector('" + MACHINE + " .state') || {}).textContent";

async function login(page, user, password, stay) {
  await page.goto(env.WEB_URL);
  await page.waitFor("!document.querySelector('#login-view').hidden", "the login form");
  await page.type("#login-user", user);
  await page.type("#login-password", password);
  if (stay) await page.click("#login-stay");
  return async () => {
    // Submit from the keyboard: Enter in the password field.
    await page.eval("document.querySelector('#login-password').focus()");
    await page.key("Enter", "Enter", 13);
    await page.waitFor("!document.querySelector('#app-view').hidden", user + " logged in");
  };
}

module.exports = {
  Browser, Page, log, sleep, startMachine, phone, viewport, SIZES, fits, check, login, MACHINE, ONLINE,
};
