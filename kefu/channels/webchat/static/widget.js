/*
 * kefu web chat widget (protocol v1). One file, no build step, no dependencies.
 *
 * A tenant puts one tag on any page:
 *   <script src="https://KEFU/chat/widget.js" data-key="WIDGET-KEY" data-locale="zh_CN" async></script>
 *
 * The widget finds kefu's origin from its own src, draws a launcher button and a chat panel
 * inside a Shadow DOM (the host page's CSS cannot reach it, ours cannot leak out) and talks to
 * ws(s)://KEFU/ws/chat?key=WIDGET-KEY. The visitor token, the last message id seen and the
 * rendered conversation live in localStorage, so a reload resumes the same session and asks
 * the server only for what it missed. Every piece of data is put on the page as text
 * (textContent / attributes), never parsed as HTML.
 */
(function () {
  "use strict";

  var PROTOCOL_CLOSE_UNKNOWN_KEY = 4404;
  var MAX_STORED_ITEMS = 300;
  var MAX_TEXT_CHARS = 4000; // 4,000 CJK characters stay far below the 64 KiB frame limit
  var TYPING_IDLE_MS = 3000;
  var AGENT_TYPING_TIMEOUT_MS = 15000;
  var PING_EVERY_MS = 25000;
  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_MAX_MS = 30000;
  var STATUS_ORDER = { failed: -1, uploading: 0, pending: 0, sent: 1, delivered: 2, read: 3 };

  // --- where we come from ---------------------------------------------------------------
  var script = document.currentScript;
  if (!script) {
    var candidates = document.querySelectorAll("script[data-key][src*='/chat/widget.js']");
    script = candidates[candidates.length - 1] || null;
  }
  if (!script || !script.getAttribute("data-key")) {
    if (window.console) console.error("kefu chat: the widget <script> tag needs a data-key attribute");
    return;
  }
  var KEY = script.getAttribute("data-key");
  var ORIGIN = new URL(script.src, document.baseURI).origin;
  var SOCKET_URL = ORIGIN.replace(/^http/, "ws") + "/ws/chat?key=" + encodeURIComponent(KEY);
  var UPLOAD_URL = ORIGIN + "/chat/upload?key=" + encodeURIComponent(KEY);
  var STORAGE_KEY = "kefu-chat:" + ORIGIN + ":" + KEY;

  window.__kefuChat = window.__kefuChat || {};
  if (window.__kefuChat[STORAGE_KEY]) return; // the tag was included twice
  window.__kefuChat[STORAGE_KEY] = true;

  function pickLocale(requested) {
    var wanted = (requested || navigator.language || "en").replace("-", "_").toLowerCase();
    return wanted.indexOf("zh") === 0 ? "zh_CN" : "en";
  }
  var LOCALE = pickLocale(script.getAttribute("data-locale"));

  // --- texts ------------------------------------------------------------------------------
  var TEXTS = {
    en: {
      launcher: "Chat with us",
      title: "Chat with us",
      minimize: "Minimize chat",
      connecting: "Connecting…",
      reconnecting: "Connection lost. Reconnecting…",
      online: "Online",
      unavailable: "Chat is not available on this site.",
      formSubmit: "Start chat",
      required: "This field is required.",
      badPattern: "Please check this value.",
      badLength: "Please use {min} to {max} characters.",
      badChoice: "Please pick one of the options.",
      badEmail: "Please enter a valid email address.",
      badPhone: "Please enter a valid phone number.",
      badDigits: "Please use digits only.",
      badNumber: "Please enter a number.",
      badRange: "Please enter a number from {min} to {max}.",
      choose: "Choose…",
      placeholder: "Type a message…",
      messageLabel: "Message",
      send: "Send",
      attach: "Attach a file",
      queue: "You are number {n} in the queue.",
      waitMinutes: "Expected wait: about {m} min.",
      waitSoon: "Expected wait: less than a minute.",
      joined: "{name} joined the chat.",
      typing: "{name} is typing…",
      agent: "Agent",
      bot: "Assistant",
      you: "You",
      status_pending: "Sending",
      status_uploading: "Uploading",
      status_sent: "Sent",
      status_delivered: "Delivered",
      status_read: "Read",
      status_failed: "Not sent",
      callMe: "Call me back",
      callNumber: "Your phone number",
      callNote: "Note (optional)",
      callSubmit: "Request a call",
      callDone: "Thank you. We will call you back at {number}.",
      cancel: "Cancel",
      endChat: "End chat",
      endEmail: "Email me the transcript (optional)",
      endSubmit: "End the chat",
      ended: "The chat has ended.",
      transcriptTo: "A transcript will be sent to {email}.",
      newChat: "Start a new chat",
      tooLarge: "{file} is too large ({size}); the limit is {limit}.",
      badType: "{file} cannot be sent: files of type {type} are not accepted.",
      uploadFailed: "{file} was not sent: {reason}",
      uploadInterrupted: "The upload was interrupted.",
      offlineUpload: "Files can be sent once the chat is connected.",
      unread: "{n} unread",
      error: "{message}"
    },
    zh_CN: {
      launcher: "在线客服",
      title: "在线客服",
      minimize: "收起对话",
      connecting: "正在连接…",
      reconnecting: "连接已断开，正在重新连接…",
      online: "在线",
      unavailable: "本网站暂未开通在线客服。",
      formSubmit: "开始对话",
      required: "此项必填。",
      badPattern: "请检查填写内容。",
      badLength: "请输入 {min} 到 {max} 个字符。",
      badChoice: "请从选项中选择。",
      badEmail: "请输入有效的电子邮箱地址。",
      badPhone: "请输入有效的电话号码。",
      badDigits: "只能填写数字。",
      badNumber: "请输入数字。",
      badRange: "请输入 {min} 到 {max} 之间的数字。",
      choose: "请选择…",
      placeholder: "请输入消息…",
      messageLabel: "消息",
      send: "发送",
      attach: "发送文件",
      queue: "您前面还有 {n} 位，正在排队。",
      waitMinutes: "预计等待约 {m} 分钟。",
      waitSoon: "预计等待不到一分钟。",
      joined: "{name} 已加入对话。",
      typing: "{name} 正在输入…",
      agent: "客服",
      bot: "智能助手",
      you: "我",
      status_pending: "发送中",
      status_uploading: "上传中",
      status_sent: "已发送",
      status_delivered: "已送达",
      status_read: "已读",
      status_failed: "未发送",
      callMe: "请给我回电",
      callNumber: "您的电话号码",
      callNote: "备注（可选）",
      callSubmit: "申请回电",
      callDone: "谢谢，我们会回电至 {number}。",
      cancel: "取消",
      endChat: "结束对话",
      endEmail: "把聊天记录发到我的邮箱（可选）",
      endSubmit: "结束对话",
      ended: "对话已结束。",
      transcriptTo: "聊天记录将发送至 {email}。",
      newChat: "开始新的对话",
      tooLarge: "{file} 太大（{size}），上限为 {limit}。",
      badType: "{file} 无法发送：不接受 {type} 类型的文件。",
      uploadFailed: "{file} 未发送：{reason}",
      uploadInterrupted: "上传被中断。",
      offlineUpload: "连接后才能发送文件。",
      unread: "{n} 条未读",
      error: "{message}"
    }
  };

  function t(name, args) {
    var text = (TEXTS[LOCALE] && TEXTS[LOCALE][name]) || TEXTS.en[name] || name;
    if (!args) return text;
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(args, key) ? String(args[key]) : whole;
    });
  }

  function formatSize(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, "") + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " B";
  }

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // --- stored state -----------------------------------------------------------------------
  // items: the conversation as rendered, in arrival order. A message item is
  //   {kind: "message", id, client_id, from, name, text, choices, attachments, at, status}
  // a notice item is {kind: "notice", key, name, args} (re-rendered in the current language).
  var state = {
    token: null,
    lastId: null,
    items: [],
    open: false,
    session: null, // {id, state}
    agentName: null,
    readUpto: null,
    formValues: {},
    unread: 0
  };

  function load() {
    try {
      var raw = window.localStorage.getItem(STORAGE_KEY);
      if (!raw) return;
      var saved = JSON.parse(raw);
      if (!saved || saved.v !== 1) return;
      state.token = saved.token || null;
      state.lastId = saved.lastId || null;
      state.items = Array.isArray(saved.items) ? saved.items : [];
      state.open = !!saved.open;
      state.session = saved.session || null;
      state.agentName = saved.agentName || null;
      state.readUpto = saved.readUpto || null;
      state.formValues = saved.formValues || {};
      state.unread = saved.unread || 0;
      state.items.forEach(function (item) {
        if (item.kind === "message" && item.status === "uploading") item.status = "failed";
      });
    } catch (err) {
      // A broken or foreign value: start afresh rather than fail the host page.
    }
  }

  var saveScheduled = false;
  function save() {
    if (saveScheduled) return;
    saveScheduled = true;
    Promise.resolve().then(function () {
      saveScheduled = false;
      var items = state.items.slice(-MAX_STORED_ITEMS);
      try {
        window.localStorage.setItem(STORAGE_KEY, JSON.stringify({
          v: 1, token: state.token, lastId: state.lastId, items: items, open: state.open,
          session: state.session, agentName: state.agentName, readUpto: state.readUpto,
          formValues: state.formValues, unread: state.unread
        }));
      } catch (err) {
        // Storage full or disabled (private mode): the chat still works, a reload forgets.
      }
    });
  }

  // --- DOM helpers --------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") node.textContent = value;
        else if (name === "className") node.className = value;
        else if (name.indexOf("on") === 0) node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  // A line icon (the path is ours, a constant); SVG needs its own namespace.
  function icon(path) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "ico");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var line = document.createElementNS(ns, "path");
    line.setAttribute("d", path);
    svg.appendChild(line);
    return svg;
  }

  function safeUrl(url) {
    try {
      var parsed = new URL(url, ORIGIN);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (err) {
      return null;
    }
  }

  var CSS = [
    // The host element is in the page's tree: its rules beat :host unless ours are important.
    ":host{all:initial!important;display:block!important;position:fixed!important;right:20px!important;",
    "bottom:20px!important;z-index:2147483000!important}",
    // Inherited properties (font, colour...) flow from the host into the shadow tree; .kefu
    // resets them all so the page's typography cannot reach the widget.
    ".kefu{all:initial;display:block;",
    "font-family:system-ui,-apple-system,'Segoe UI','PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;",
    "font-size:14px;line-height:1.4;color:#1d2433;text-align:left}",
    ".ico{width:18px;height:18px;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round;vertical-align:middle}",
    "*{box-sizing:border-box}",
    "[hidden]{display:none!important}",
    "button{font:inherit;cursor:pointer}",
    "button:focus-visible,input:focus-visible,textarea:focus-visible,select:focus-visible,a:focus-visible{outline:3px solid #f5a623;outline-offset:1px}",
    ".launcher{display:flex;align-items:center;gap:8px;border:0;border-radius:28px;padding:12px 18px;",
    "background:#1f5fbf;color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);font-weight:600}",
    ".badge{background:#d93025;color:#fff;border-radius:10px;padding:0 7px;font-size:12px}",
    ".panel{width:360px;height:min(560px,calc(100vh - 40px));display:flex;flex-direction:column;",
    "background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden}",
    ".head{display:flex;align-items:center;gap:8px;padding:10px 12px;background:#1f5fbf;color:#fff}",
    ".head h2{font-size:15px;margin:0;flex:1}",
    ".conn{font-size:12px;opacity:.9}",
    ".icon{background:transparent;border:0;color:#fff;font-size:18px;padding:2px 8px;border-radius:6px}",
    ".tools{display:flex;gap:6px;padding:6px 10px;border-bottom:1px solid #e3e7ef;background:#f6f8fb}",
    ".tool{border:1px solid #c6cfdd;background:#fff;border-radius:14px;padding:3px 10px;font-size:12px;color:#1d2433}",
    ".body{flex:1;overflow-y:auto;padding:10px 12px;background:#fafbfd}",
    ".log{display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:82%;display:flex;flex-direction:column;gap:2px}",
    ".msg .who{font-size:11px;color:#5b6475}",
    ".bubble{padding:8px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word;overflow-wrap:anywhere}",
    ".from-customer{align-self:flex-end;align-items:flex-end}",
    ".from-customer .bubble{background:#1f5fbf;color:#fff}",
    ".from-agent .bubble,.from-bot .bubble{background:#fff;border:1px solid #dfe4ec}",
    ".from-bot .bubble{background:#eef3fb}",
    ".from-system,.notice{align-self:center;font-size:12px;color:#5b6475;text-align:center;max-width:95%}",
    ".ticks{font-size:11px;color:#5b6475}",
    ".ticks[data-status=read]{color:#1a8f3c}",
    ".ticks[data-status=failed]{color:#d93025}",
    ".choices{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}",
    ".choice{border:1px solid #1f5fbf;color:#1f5fbf;background:#fff;border-radius:14px;padding:4px 12px}",
    ".att{display:block;margin-top:4px;color:inherit}",
    ".att img{display:block;max-width:200px;max-height:160px;border-radius:6px;margin-bottom:2px}",
    ".queue{padding:6px 12px;background:#fff7e0;border-top:1px solid #f0dca0;font-size:12px}",
    ".typing{padding:2px 12px;font-size:12px;color:#5b6475;font-style:italic;min-height:18px}",
    ".alert{padding:6px 12px;background:#fdecea;color:#a50e0e;font-size:12px;border-top:1px solid #f5c2bd}",
    ".compose{display:flex;gap:6px;padding:8px;border-top:1px solid #e3e7ef;background:#fff;align-items:flex-end}",
    ".compose textarea{flex:1;resize:none;height:40px;max-height:120px;border:1px solid #c6cfdd;border-radius:8px;padding:8px;font:inherit}",
    ".send{border:0;background:#1f5fbf;color:#fff;border-radius:8px;padding:9px 14px;font-weight:600}",
    ".send:disabled,.launcher:disabled{opacity:.5;cursor:default}",
    ".attach{border:1px solid #c6cfdd;background:#fff;border-radius:8px;padding:8px 10px}",
    "form.sheet{display:flex;flex-direction:column;gap:8px;padding:4px 0}",
    "form.sheet h3{margin:0 0 4px;font-size:15px}",
    ".field{display:flex;flex-direction:column;gap:3px}",
    ".field label{font-size:13px;font-weight:600}",
    ".field input,.field select,.field textarea{border:1px solid #c6cfdd;border-radius:6px;padding:7px 8px;font:inherit;background:#fff}",
    ".field [aria-invalid=true]{border-color:#d93025}",
    ".field .err{color:#d93025;font-size:12px;min-height:0}",
    ".row{display:flex;gap:8px;justify-content:flex-end}",
    ".primary{border:0;background:#1f5fbf;color:#fff;border-radius:8px;padding:8px 14px;font-weight:600}",
    ".secondary{border:1px solid #c6cfdd;background:#fff;border-radius:8px;padding:8px 14px}",
    "@media (max-width:420px){.panel{width:calc(100vw - 20px)}:host{right:10px!important;bottom:10px!important}}"
  ].join("");

  // --- build the UI ---------------------------------------------------------------------------
  var host = document.createElement("div");
  host.setAttribute("data-kefu-chat", KEY);
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", { text: CSS }));

  var ui = {};
  ui.badge = el("span", { className: "badge", hidden: true });
  ui.launcher = el("button", { type: "button", className: "launcher", "aria-label": t("launcher"),
    "aria-expanded": "false", onclick: function () { setOpen(true); } },
    [icon("M21 12a8 8 0 0 1-11.6 7.1L4 21l1.9-5.4A8 8 0 1 1 21 12z"), el("span", { text: t("launcher") }), ui.badge]);

  ui.conn = el("span", { className: "conn", role: "status", text: "" });
  ui.minimize = el("button", { type: "button", className: "icon", "aria-label": t("minimize"),
    title: t("minimize"), onclick: function () { setOpen(false); } }, ["–"]);
  ui.callTool = el("button", { type: "button", className: "tool", onclick: function () { showSheet("callback"); } }, [t("callMe")]);
  ui.endTool = el("button", { type: "button", className: "tool", onclick: function () { showSheet("end"); } }, [t("endChat")]);
  ui.tools = el("div", { className: "tools", hidden: true }, [ui.callTool, ui.endTool]);

  ui.log = el("div", { className: "log", role: "log", "aria-live": "polite", "aria-label": t("title") });
  ui.formHost = el("div", { hidden: true });
  ui.callbackSheet = buildCallbackSheet();
  ui.endSheet = buildEndSheet();
  ui.newChat = el("button", { type: "button", className: "primary", hidden: true, onclick: startNewChat }, [t("newChat")]);
  ui.body = el("div", { className: "body" }, [ui.formHost, ui.log, ui.callbackSheet, ui.endSheet,
    el("div", { className: "row" }, [ui.newChat])]);
  ui.queue = el("div", { className: "queue", role: "status", hidden: true });
  ui.typing = el("div", { className: "typing", "aria-live": "polite" });
  ui.alert = el("div", { className: "alert", role: "alert", hidden: true });

  ui.file = el("input", { type: "file", hidden: true, tabindex: "-1", "aria-hidden": "true",
    onchange: function () { if (ui.file.files && ui.file.files[0]) upload(ui.file.files[0]); ui.file.value = ""; } });
  ui.attach = el("button", { type: "button", className: "attach", "aria-label": t("attach"), title: t("attach"),
    onclick: function () { ui.file.click(); } },
    [icon("M21 11.5l-8.5 8.5a5 5 0 0 1-7-7l9-9a3.3 3.3 0 0 1 4.7 4.7l-9 9a1.7 1.7 0 0 1-2.4-2.4l8.3-8.3")]);
  ui.input = el("textarea", { "aria-label": t("messageLabel"), placeholder: t("placeholder"), rows: "1",
    maxlength: String(MAX_TEXT_CHARS) });
  ui.send = el("button", { type: "button", className: "send", onclick: function () { sendText(); } }, [t("send")]);
  ui.compose = el("div", { className: "compose", hidden: true }, [ui.attach, ui.file, ui.input, ui.send]);

  ui.panel = el("div", { className: "panel", role: "dialog", "aria-label": t("title"), hidden: true }, [
    el("div", { className: "head" }, [el("h2", { text: t("title") }), ui.conn, ui.minimize]),
    ui.tools, ui.body, ui.queue, ui.typing, ui.alert, ui.compose
  ]);
  root.appendChild(el("div", { className: "kefu", lang: LOCALE === "zh_CN" ? "zh-CN" : "en" }, [ui.launcher, ui.panel]));

  ui.input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault(); // Enter sends; Shift+Enter is a new line; IME composition is left alone
      sendText();
    }
  });
  ui.input.addEventListener("input", noteTyping);
  ui.input.addEventListener("blur", function () { stopTyping(); });
  ui.panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setOpen(false);
  });

  // --- rendering ------------------------------------------------------------------------------
  var nodes = new Map(); // item -> element

  function itemKey(item) {
    return item.kind === "notice" ? "n:" + item.key : (item.id ? "i:" + item.id : "c:" + item.client_id);
  }

  function findMessage(id, clientId) {
    for (var i = state.items.length - 1; i >= 0; i -= 1) {
      var item = state.items[i];
      if (item.kind !== "message") continue;
      if (id && item.id === id) return item;
      if (clientId && item.client_id === clientId) return item;
    }
    return null;
  }

  function renderItem(item, before) {
    var node = item.kind === "notice" ? renderNotice(item) : renderMessage(item);
    node.setAttribute("data-key", itemKey(item));
    var old = nodes.get(item);
    if (old) old.replaceWith(node);
    else if (before) ui.log.insertBefore(node, before);
    else ui.log.appendChild(node);
    nodes.set(item, node);
    return node;
  }

  function renderNotice(item) {
    return el("div", { className: "notice", "data-notice": item.name, text: t(item.name, item.args) });
  }

  function renderMessage(item) {
    var from = item.from || "system";
    var box = el("div", { className: "msg from-" + from, "data-from": from, "data-id": item.id || null,
      "data-client-id": item.client_id || null });
    if (from === "system") {
      box.textContent = item.text || "";
      return box;
    }
    var who = from === "customer" ? t("you") : (item.name || (from === "bot" ? t("bot") : t("agent")));
    box.appendChild(el("span", { className: "who", text: who }));
    var bubble = el("div", { className: "bubble" });
    if (item.text) bubble.appendChild(el("span", { className: "text", text: item.text }));
    (item.attachments || []).forEach(function (att) { bubble.appendChild(renderAttachment(att)); });
    box.appendChild(bubble);
    if (Array.isArray(item.choices) && item.choices.length) {
      var row = el("div", { className: "choices", role: "group" });
      item.choices.forEach(function (choice) {
        row.appendChild(el("button", { type: "button", className: "choice", "data-choice": choice.key,
          onclick: function () { sendText(String(choice.key)); } }, [String(choice.label || choice.key)]));
      });
      box.appendChild(row);
    }
    if (from === "customer") {
      var status = item.status || "pending";
      var mark = { pending: "🕓", uploading: "⏫", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" }[status] || "";
      box.appendChild(el("span", { className: "ticks", "data-status": status, title: t("status_" + status),
        "aria-label": t("status_" + status) }, [mark + " " + t("status_" + status)]));
    }
    return box;
  }

  function renderAttachment(att) {
    var href = safeUrl(att.url);
    var label = String(att.filename || "file") + (att.size ? " (" + formatSize(att.size) + ")" : "");
    if (!href) return el("span", { className: "att", text: label });
    var link = el("a", { className: "att", href: href, target: "_blank", rel: "noopener noreferrer",
      download: att.filename || true, "data-attachment": att.filename || "" });
    if (/^image\/(png|jpeg|gif|webp)$/.test(att.content_type || "")) {
      link.appendChild(el("img", { src: href, alt: String(att.filename || ""), loading: "lazy" }));
    }
    link.appendChild(document.createTextNode(label));
    return link;
  }

  function scrollToEnd() {
    ui.body.scrollTop = ui.body.scrollHeight;
  }

  function renderAll() {
    ui.log.textContent = "";
    nodes = new Map();
    state.items.forEach(function (item) { renderItem(item); });
    scrollToEnd();
  }

  function addNotice(name, args, key) {
    var item = { kind: "notice", key: key || name + ":" + Date.now() + ":" + Math.random(), name: name, args: args || null };
    for (var i = 0; i < state.items.length; i += 1) {
      if (state.items[i].kind === "notice" && state.items[i].key === item.key) return;
    }
    state.items.push(item);
    renderItem(item);
    scrollToEnd();
    save();
  }

  function showAlert(text) {
    ui.alert.textContent = text;
    ui.alert.hidden = !text;
  }

  function setConnection(name) {
    ui.conn.textContent = name ? t(name) : "";
    ui.conn.setAttribute("data-state", name || "");
  }

  // --- panel state --------------------------------------------------------------------------
  function setOpen(open) {
    state.open = open;
    ui.panel.hidden = !open;
    ui.launcher.hidden = open;
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      state.unread = 0;
      updateBadge();
      connect();
      scrollToEnd();
      (ui.compose.hidden ? ui.minimize : ui.input).focus();
      markRead();
    } else {
      ui.launcher.focus();
    }
    save();
  }

  function updateBadge() {
    ui.badge.hidden = !state.unread;
    ui.badge.textContent = state.unread ? String(state.unread) : "";
    if (state.unread) ui.badge.setAttribute("aria-label", t("unread", { n: state.unread }));
  }

  function isEnded() {
    return !!(state.session && /^(ended|closed|abandoned)$/.test(String(state.session.state || "")));
  }

  function showView() {
    var chatting = !!state.session && !isEnded();
    ui.compose.hidden = !chatting;
    ui.tools.hidden = !chatting;
    ui.newChat.hidden = !isEnded();
    if (!chatting) {
      ui.queue.hidden = true;
      ui.typing.textContent = "";
      ui.callbackSheet.hidden = true;
      ui.endSheet.hidden = true;
    }
    ui.formHost.hidden = !!state.session || !currentForm;
  }

  // --- pre-chat form ------------------------------------------------------------------------
  var currentForm = null;
  var formInputs = {};

  var TYPE_CHECKS = {
    email: { re: /^[^@\s]+@[^@\s]+\.[^@\s]+$/, message: "badEmail" },
    phone: { re: /^\+?[0-9]{3,20}$/, message: "badPhone", clean: function (v) { return v.replace(/[ -]/g, ""); } },
    pin: { re: /^[0-9]+$/, message: "badDigits" },
    account: { re: /^[0-9]+$/, message: "badDigits" },
    number: { re: /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, message: "badNumber" }
  };

  function compilePattern(pattern) {
    if (!pattern) return null;
    try {
      return new RegExp(pattern, "u");
    } catch (err) {
      return null; // a pattern JavaScript cannot read: the server still checks it
    }
  }

  // The same checks, in the same order, as the server's form validation; the server has the
  // last word (its form_errors are shown the same way).
  function fieldError(field, value) {
    var custom = field.message || null;
    if (value === "") return field.required ? (custom || t("required")) : null;
    var check = TYPE_CHECKS[field.type];
    if (check && !check.re.test(check.clean ? check.clean(value) : value)) return custom || t(check.message);
    var re = compilePattern(field.pattern);
    if (re && !re.test(value)) return custom || t("badPattern");
    var hasMin = typeof field.min === "number";
    var hasMax = typeof field.max === "number";
    if (field.type === "number") {
      var number = parseFloat(value);
      if ((hasMin && number < field.min) || (hasMax && number > field.max)) {
        return custom || t("badRange", { min: hasMin ? field.min : "", max: hasMax ? field.max : "" });
      }
    } else if ((hasMin && value.length < field.min) || (hasMax && value.length > field.max)) {
      return custom || t("badLength", { min: hasMin ? field.min : 0, max: hasMax ? field.max : "∞" });
    }
    if (Array.isArray(field.choices) && field.choices.length && field.choices.map(choiceValue).indexOf(value) < 0) {
      return custom || t("badChoice");
    }
    return null;
  }

  function choiceValue(choice) {
    return typeof choice === "object" && choice ? String(choice.key) : String(choice);
  }

  function choiceLabel(choice) {
    return typeof choice === "object" && choice ? String(choice.label || choice.key) : String(choice);
  }

  function buildForm(form) {
    currentForm = form;
    formInputs = {};
    ui.formHost.textContent = "";
    if (!form) return;
    var sheet = el("form", { className: "sheet", novalidate: true, "data-form": form.id || "" });
    if (form.title) sheet.appendChild(el("h3", { text: form.title }));
    (form.fields || []).forEach(function (field, index) {
      var id = "kefu-f-" + index;
      var errorId = id + "-err";
      var input;
      if (Array.isArray(field.choices) && field.choices.length) {
        input = el("select", { id: id, name: field.name });
        input.appendChild(el("option", { value: "", text: t("choose") }));
        field.choices.forEach(function (choice) {
          input.appendChild(el("option", { value: choiceValue(choice), text: choiceLabel(choice) }));
        });
      } else {
        var type = { email: "email", phone: "tel", number: "text", pin: "password" }[field.type] || "text";
        input = el("input", { id: id, name: field.name, type: type,
          autocomplete: { email: "email", phone: "tel" }[field.type] || (field.name === "name" ? "name" : "off"),
          inputmode: { phone: "tel", number: "decimal", pin: "numeric", account: "numeric" }[field.type] || null,
          maxlength: field.type !== "number" && typeof field.max === "number" ? String(field.max) : null });
      }
      input.setAttribute("aria-describedby", errorId);
      if (field.required) input.setAttribute("aria-required", "true");
      if (state.formValues[field.name] !== undefined) input.value = state.formValues[field.name];
      var error = el("div", { className: "err", id: errorId, "data-error-for": field.name });
      var label = el("label", { for: id, text: (field.label || field.name) + (field.required ? " *" : "") });
      sheet.appendChild(el("div", { className: "field" }, [label, input, error]));
      formInputs[field.name] = { field: field, input: input, error: error };
      input.addEventListener("input", function () { setFieldError(field.name, null); });
    });
    ui.formSubmit = el("button", { type: "submit", className: "primary" }, [t("formSubmit")]);
    sheet.appendChild(el("div", { className: "row" }, [ui.formSubmit]));
    sheet.addEventListener("submit", function (event) {
      event.preventDefault();
      submitForm();
    });
    ui.formHost.appendChild(sheet);
  }

  function setFieldError(name, message) {
    var entry = formInputs[name];
    if (!entry) return;
    entry.error.textContent = message || "";
    if (message) entry.input.setAttribute("aria-invalid", "true");
    else entry.input.removeAttribute("aria-invalid");
  }

  function submitForm() {
    var fields = {};
    var firstBad = null;
    Object.keys(formInputs).forEach(function (name) {
      var entry = formInputs[name];
      var value = String(entry.input.value || "").trim();
      var problem = fieldError(entry.field, value);
      setFieldError(name, problem);
      if (problem && !firstBad) firstBad = entry.input;
      if (value !== "") fields[name] = value;
    });
    if (firstBad) {
      firstBad.focus();
      return;
    }
    state.formValues = fields;
    save();
    if (ui.formSubmit) ui.formSubmit.disabled = true;
    if (!sendFrame({ type: "start", fields: fields })) {
      ui.formSubmit.disabled = false;
      showAlert(t("reconnecting"));
    }
  }

  function showFormErrors(errors) {
    if (ui.formSubmit) ui.formSubmit.disabled = false;
    var first = null;
    Object.keys(errors || {}).forEach(function (name) {
      if (formInputs[name]) {
        setFieldError(name, String(errors[name]));
        if (!first) first = formInputs[name].input;
      } else {
        showAlert(String(errors[name]));
      }
    });
    if (first) first.focus();
  }

  // --- call me back / end chat --------------------------------------------------------------
  function sheetField(label, input) {
    var id = "kefu-s-" + Math.random().toString(36).slice(2);
    input.id = id;
    return el("div", { className: "field" }, [el("label", { for: id, text: label }), input]);
  }

  function buildCallbackSheet() {
    var number = el("input", { type: "tel", name: "number", autocomplete: "tel", inputmode: "tel", required: true });
    var note = el("textarea", { name: "note", rows: "2", maxlength: "500" });
    var error = el("div", { className: "err", "data-error-for": "number" });
    var sheet = el("form", { className: "sheet", novalidate: true, hidden: true, "data-sheet": "callback" }, [
      el("h3", { text: t("callMe") }), sheetField(t("callNumber"), number), error, sheetField(t("callNote"), note),
      el("div", { className: "row" }, [
        el("button", { type: "button", className: "secondary", onclick: function () { showSheet(null); } }, [t("cancel")]),
        el("button", { type: "submit", className: "primary" }, [t("callSubmit")])
      ])
    ]);
    sheet.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = number.value.trim();
      var problem = fieldError({ type: "phone", required: true }, value);
      error.textContent = problem || "";
      if (problem) { number.setAttribute("aria-invalid", "true"); number.focus(); return; }
      number.removeAttribute("aria-invalid");
      if (sendFrame({ type: "callback", number: value, note: note.value.trim() })) {
        pendingCallbackNumber = value;
        note.value = "";
        showSheet(null);
      }
    });
    return sheet;
  }

  function buildEndSheet() {
    var email = el("input", { type: "email", name: "transcript_to", autocomplete: "email" });
    var error = el("div", { className: "err", "data-error-for": "transcript_to" });
    var sheet = el("form", { className: "sheet", novalidate: true, hidden: true, "data-sheet": "end" }, [
      el("h3", { text: t("endChat") }), sheetField(t("endEmail"), email), error,
      el("div", { className: "row" }, [
        el("button", { type: "button", className: "secondary", onclick: function () { showSheet(null); } }, [t("cancel")]),
        el("button", { type: "submit", className: "primary" }, [t("endSubmit")])
      ])
    ]);
    sheet.addEventListener("submit", function (event) {
      event.preventDefault();
      var value = email.value.trim();
      var problem = fieldError({ type: "email" }, value);
      error.textContent = problem || "";
      if (problem) { email.setAttribute("aria-invalid", "true"); email.focus(); return; }
      email.removeAttribute("aria-invalid");
      if (sendFrame({ type: "end", transcript_to: value || null })) {
        if (value) addNotice("transcriptTo", { email: value });
        showSheet(null);
      }
    });
    sheet.addEventListener("kefu-show", function () {
      if (!email.value && state.formValues.email) email.value = state.formValues.email;
    });
    return sheet;
  }

  var pendingCallbackNumber = null;

  function showSheet(which) {
    ui.callbackSheet.hidden = which !== "callback";
    ui.endSheet.hidden = which !== "end";
    var sheet = which === "callback" ? ui.callbackSheet : which === "end" ? ui.endSheet : null;
    if (sheet) {
      sheet.dispatchEvent(new Event("kefu-show"));
      sheet.scrollIntoView({ block: "nearest" });
      var first = sheet.querySelector("input");
      if (first) first.focus();
    } else {
      ui.input.focus();
    }
  }

  function startNewChat() {
    state.session = null;
    state.agentName = null;
    state.items = [];
    state.readUpto = null;
    renderAll();
    save();
    if (currentForm) {
      buildForm(currentForm);
      showView();
    } else {
      sendFrame({ type: "start", fields: {} });
    }
  }

  // --- messages -------------------------------------------------------------------------------
  function sendText(text) {
    var body = text === undefined ? ui.input.value : text;
    body = String(body).replace(/\s+$/, "").replace(/^\s+/, "");
    if (!body || !state.session || isEnded()) return;
    if (text === undefined) ui.input.value = "";
    stopTyping();
    var item = { kind: "message", client_id: newClientId(), from: "customer", text: body.slice(0, MAX_TEXT_CHARS),
      attachments: [], at: new Date().toISOString(), status: "pending" };
    state.items.push(item);
    renderItem(item);
    scrollToEnd();
    save();
    sendFrame({ type: "message", client_id: item.client_id, text: item.text });
  }

  // Customer messages not yet acknowledged: sent again, with the same client_id, after every
  // (re)connection; the server stores each client_id once.
  function flushOutbox() {
    state.items.forEach(function (item) {
      if (item.kind === "message" && item.from === "customer" && !item.id && item.status === "pending" && item.text) {
        sendFrame({ type: "message", client_id: item.client_id, text: item.text });
      }
    });
  }

  function statusRank(status) {
    return Object.prototype.hasOwnProperty.call(STATUS_ORDER, status) ? STATUS_ORDER[status] : 0;
  }

  function advanceStatus(item, status) {
    if (!status) return false;
    if (statusRank(status) > statusRank(item.status) || (item.status === "failed" && status !== "failed")) {
      item.status = status;
      return true;
    }
    return false;
  }

  // The server's status of a customer's own message, as one of the ticks the widget shows.
  function customerStatus(status) {
    return status === "delivered" || status === "read" ? status : "sent";
  }

  var pendingReceived = [];

  // A message frame (live or from history): add it, or update the copy we already have.
  function mergeMessage(frame, live) {
    var existing = findMessage(frame.id, frame.client_id);
    var incoming = frame.from !== "customer";
    if (existing) {
      var changed = false;
      if (frame.id && existing.id !== frame.id) { existing.id = frame.id; changed = true; }
      if (frame.from === "customer") changed = advanceStatus(existing, customerStatus(frame.status)) || changed;
      if (Array.isArray(frame.attachments) && frame.attachments.length &&
          JSON.stringify(frame.attachments) !== JSON.stringify(existing.attachments || [])) {
        existing.attachments = frame.attachments;
        changed = true;
      }
      if (frame.text && frame.text !== existing.text) { existing.text = frame.text; changed = true; }
      if (changed) renderItem(existing);
      return existing;
    }
    var item = {
      kind: "message", id: frame.id || null, client_id: frame.client_id || null, from: frame.from || "system",
      name: frame.name || null, text: frame.text || "", choices: Array.isArray(frame.choices) ? frame.choices : null,
      attachments: Array.isArray(frame.attachments) ? frame.attachments : [], at: frame.at || null,
      status: frame.from === "customer" ? customerStatus(frame.status) : null
    };
    // Frames of one turn can arrive out of order (a second tab): place by the server's time
    // among the messages the server has stamped; unacknowledged ones stay at the end.
    var index = state.items.length;
    var at = Date.parse(item.at || "");
    while (!isNaN(at) && index > 0) {
      var previous = state.items[index - 1];
      var previousAt = previous.kind === "message" && previous.id ? Date.parse(previous.at || "") : NaN;
      if (!(previousAt > at)) break;
      index -= 1;
    }
    var next = state.items[index];
    state.items.splice(index, 0, item);
    renderItem(item, next ? nodes.get(next) : null);
    if (frame.id && index === state.items.length - 1) state.lastId = frame.id;
    if (incoming && frame.id) {
      pendingReceived.push(frame.id);
      if (frame.from === "agent") hideAgentTyping();
      if (!state.open || document.visibilityState !== "visible") {
        if (live && !state.open) { state.unread += 1; updateBadge(); }
      }
    }
    return item;
  }

  function flushReceipts() {
    if (pendingReceived.length && sendFrame({ type: "received", ids: pendingReceived.slice() })) {
      pendingReceived = [];
    }
    markRead();
  }

  // Read receipts go only when a person can actually see the messages: panel open, tab visible.
  function markRead() {
    if (!state.open || document.visibilityState !== "visible") return;
    var latest = null;
    for (var i = state.items.length - 1; i >= 0; i -= 1) {
      var item = state.items[i];
      if (item.kind === "message" && item.from !== "customer" && item.id) { latest = item.id; break; }
    }
    if (latest && latest !== state.readUpto && sendFrame({ type: "read", upto: latest })) {
      state.readUpto = latest;
      save();
    }
  }

  document.addEventListener("visibilitychange", markRead);

  // --- typing -------------------------------------------------------------------------------
  var typingActive = false;
  var typingTimer = null;
  var agentTypingTimer = null;

  function noteTyping() {
    if (!ui.input.value.trim()) { stopTyping(); return; }
    if (!typingActive && sendFrame({ type: "typing", active: true })) typingActive = true;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingActive) {
      typingActive = false;
      sendFrame({ type: "typing", active: false });
    }
  }

  function showAgentTyping(active) {
    clearTimeout(agentTypingTimer);
    if (!active) { hideAgentTyping(); return; }
    ui.typing.textContent = t("typing", { name: state.agentName || t("agent") });
    ui.typing.setAttribute("data-active", "true");
    agentTypingTimer = setTimeout(hideAgentTyping, AGENT_TYPING_TIMEOUT_MS); // a lost "inactive"
  }

  function hideAgentTyping() {
    clearTimeout(agentTypingTimer);
    ui.typing.textContent = "";
    ui.typing.removeAttribute("data-active");
  }

  // --- attachments ------------------------------------------------------------------------------
  var limits = { max_attachment_bytes: 0, attachment_types: [] };

  function typeAllowed(type) {
    var allowed = limits.attachment_types || [];
    if (!allowed.length) return true;
    return allowed.some(function (pattern) {
      if (pattern === type) return true;
      return /\/\*$/.test(pattern) && type.indexOf(pattern.slice(0, -1)) === 0;
    });
  }

  function upload(file) {
    showAlert("");
    var type = file.type || "application/octet-stream";
    if (limits.max_attachment_bytes && file.size > limits.max_attachment_bytes) {
      showAlert(t("tooLarge", { file: file.name, size: formatSize(file.size), limit: formatSize(limits.max_attachment_bytes) }));
      return;
    }
    if (!typeAllowed(type)) {
      showAlert(t("badType", { file: file.name, type: type }));
      return;
    }
    if (!state.token || !state.session || isEnded()) {
      showAlert(t("offlineUpload"));
      return;
    }
    var item = { kind: "message", client_id: newClientId(), from: "customer", text: "",
      attachments: [{ filename: file.name, content_type: type, size: file.size, url: null }],
      at: new Date().toISOString(), status: "uploading" };
    state.items.push(item);
    renderItem(item);
    scrollToEnd();
    save();
    var body = new FormData();
    body.append("file", file, file.name);
    body.append("client_id", item.client_id);
    fetch(UPLOAD_URL, { method: "POST", body: body, headers: { "X-Kefu-Chat-Token": state.token },
      credentials: "omit", mode: "cors" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) {
            var reason = (data && data.error && data.error.message) || ("HTTP " + response.status);
            throw new Error(reason);
          }
          if (data && data.id && !findMessage(data.id, null)) item.id = data.id;
          advanceStatus(item, "sent");
          renderItem(item);
          state.lastId = state.lastId || item.id;
          save();
        });
      })
      .catch(function (err) {
        item.status = "failed";
        renderItem(item);
        save();
        showAlert(t("uploadFailed", { file: file.name, reason: err && err.message ? err.message : String(err) }));
      });
  }

  // --- the socket -----------------------------------------------------------------------------
  var socket = null;
  var attempts = 0;
  var retryTimer = null;
  var pingTimer = null;
  var giveUp = false;

  function sendFrame(frame) {
    if (!socket || socket.readyState !== WebSocket.OPEN || !socket.kefuReady) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    if (giveUp || (socket && socket.readyState <= WebSocket.OPEN)) return;
    clearTimeout(retryTimer);
    setConnection(attempts ? "reconnecting" : "connecting");
    var ws;
    try {
      ws = new WebSocket(SOCKET_URL);
    } catch (err) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onopen = function () {
      // hello goes first; every other frame waits for the welcome (sendFrame checks kefuReady)
      ws.send(JSON.stringify({ type: "hello", token: state.token, since: state.lastId, locale: LOCALE }));
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { sendFrame({ type: "ping" }); }, PING_EVERY_MS);
    };
    ws.onmessage = function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (!frame || typeof frame.type !== "string") return;
      if (frame.type === "welcome") ws.kefuReady = true;
      handle(frame);
    };
    ws.onclose = function (event) {
      if (socket !== ws) return;
      socket = null;
      clearInterval(pingTimer);
      typingActive = false;
      if (event.code === PROTOCOL_CLOSE_UNKNOWN_KEY) {
        giveUp = true;
        setConnection("");
        showAlert(t("unavailable"));
        return;
      }
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows and schedules the retry */ };
  }

  // Exponential backoff with jitter, so a restarted server is not hit by every visitor at once.
  function scheduleReconnect() {
    setConnection("reconnecting");
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, attempts));
    delay = delay / 2 + Math.random() * delay / 2;
    attempts += 1;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
  }

  window.addEventListener("online", function () {
    if (!socket && !giveUp) { attempts = 0; connect(); }
  });

  function handle(frame) {
    switch (frame.type) {
      case "welcome": onWelcome(frame); break;
      case "form_errors": showFormErrors(frame.errors); break;
      case "started":
        if (frame.token) state.token = frame.token;
        state.session = frame.session || { state: "open" };
        if (frame.session && frame.session.agent) state.agentName = frame.session.agent.name;
        showAlert("");
        showView();
        if (state.open) ui.input.focus();
        save();
        break;
      case "message":
        mergeMessage(frame, true);
        scrollToEnd();
        flushReceipts();
        save();
        break;
      case "ack": {
        var sent = findMessage(null, frame.client_id) || findMessage(frame.id, null);
        if (sent) {
          sent.id = frame.id || sent.id;
          if (frame.at) sent.at = frame.at;
          advanceStatus(sent, "sent");
          renderItem(sent);
        }
        if (frame.id && !state.lastId) state.lastId = frame.id;
        save();
        break;
      }
      case "receipt": {
        var target = findMessage(frame.id, null);
        if (target && advanceStatus(target, frame.status)) { renderItem(target); save(); }
        break;
      }
      case "typing":
        if (frame.who !== "customer") showAgentTyping(!!frame.active);
        break;
      case "queue":
        ui.queue.hidden = false;
        ui.queue.textContent = "";
        ui.queue.appendChild(el("span", { "data-position": String(frame.position), text: t("queue", { n: frame.position }) }));
        if (frame.expected_wait !== null && frame.expected_wait !== undefined) {
          var minutes = Math.ceil(Number(frame.expected_wait) / 60);
          ui.queue.appendChild(document.createTextNode(" " + (minutes >= 1 ? t("waitMinutes", { m: minutes }) : t("waitSoon"))));
        }
        break;
      case "agent_joined":
        state.agentName = frame.name || t("agent");
        if (state.session) state.session.state = "connected";
        ui.queue.hidden = true;
        addNotice("joined", { name: state.agentName }, "joined:" + state.agentName + ":" + (state.lastId || ""));
        break;
      case "ended":
        state.session = state.session || {};
        state.session.state = "ended";
        hideAgentTyping();
        addNotice("ended", null, "ended:" + (state.session.id || "") + ":" + (state.lastId || ""));
        showView();
        save();
        break;
      case "callback_requested":
        addNotice("callDone", { number: pendingCallbackNumber || "" }, "callback:" + frame.id);
        break;
      case "error":
        if (frame.code === "bad_token") {
          // The server closes the socket next; the reconnection goes as a new visitor.
          forgetConversation();
          state.token = null;
          save();
          break;
        }
        showAlert(t("error", { message: String(frame.message || frame.code || "") }));
        if (frame.client_id) {
          var refused = findMessage(null, frame.client_id);
          if (refused) { refused.status = "failed"; renderItem(refused); save(); }
        }
        if (ui.formSubmit) ui.formSubmit.disabled = false;
        break;
      default:
        break; // pong and frames of later protocol versions
    }
  }

  function onWelcome(frame) {
    attempts = 0;
    showAlert("");
    setConnection("online");
    var session = frame.session || null;
    var storedSession = state.session && state.session.id;
    if ((state.token && visitorOf(frame.token) !== visitorOf(state.token)) ||
        (session && storedSession && session.id !== storedSession)) {
      // Another visitor (the old token expired) or another session: what is stored belongs
      // to a conversation that is not this one.
      forgetConversation();
    }
    state.token = frame.token || state.token;
    if (frame.limits) limits = frame.limits;
    if (limits.attachment_types && limits.attachment_types.length) {
      ui.file.setAttribute("accept", limits.attachment_types.join(","));
    }
    if (session) {
      state.session = { id: session.id, state: session.state };
      if (session.agent && session.agent.name) state.agentName = session.agent.name;
    } else if (state.session && !isEnded()) {
      state.session = null;
    }
    (frame.history || []).forEach(function (message) { mergeMessage(message, false); });
    if (frame.form && (!currentForm || currentForm.id !== frame.form.id)) buildForm(frame.form);
    else if (!frame.form) buildForm(null);
    showView();
    scrollToEnd();
    if (state.session && !isEnded()) {
      flushOutbox();
    } else if (!state.session && !frame.form && state.open) {
      sendFrame({ type: "start", fields: {} });
    }
    flushReceipts();
    save();
  }

  // The visitor id inside a token (its payload is signed, not secret): a re-signed token of
  // the same visitor is the same visitor.
  function visitorOf(token) {
    try {
      var body = String(token || "").split(".")[0].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(body + "===".slice((body.length + 3) % 4))).v || null;
    } catch (err) {
      return null;
    }
  }

  function forgetConversation() {
    state.items = [];
    state.lastId = null;
    state.readUpto = null;
    state.agentName = null;
    state.session = null;
    renderAll();
  }

  // --- start ------------------------------------------------------------------------------------
  function mount() {
    document.body.appendChild(host);
    load();
    renderAll();
    updateBadge();
    showView();
    if (state.open) setOpen(true);
    else if (state.token) connect(); // a conversation in progress keeps receiving
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
