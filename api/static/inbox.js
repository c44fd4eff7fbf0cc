// The volunteer inbox: plain JS, no libraries. Changes go to the JSON API with the session's CSRF token;
// the server renders HTML fragments that are swapped in when the live stream says something changed.
window.Inbox = (() => {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";

  function flash(text) {
    const el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  async function api(method, path, body) {
    const headers = { "X-CSRF-Token": csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, {
      method, credentials: "same-origin", headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401) { location.href = "/inbox/login"; throw new Error("signed out"); }
    let data = null;
    try { data = await res.json(); } catch (e) { /* no body */ }
    if (!res.ok) throw new Error((data && (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail))) || ("HTTP " + res.status));
    return data;
  }

  // Re-fetch a fragment into a container; overlapping refreshes collapse into one more after the current.
  function refresher(container, after) {
    let running = false, again = false;
    async function refresh() {
      if (running) { again = true; return; }
      running = true;
      try {
        do {
          again = false;
          const res = await fetch(container.dataset.fragment, { credentials: "same-origin", cache: "no-store" });
          if (res.redirected && res.url.includes("/inbox/login")) { location.href = "/inbox/login"; return; }
          if (res.ok) { container.innerHTML = await res.text(); if (after) after(); }
        } while (again);
      } catch (e) { /* the next event or tick tries again */ }
      finally { running = false; }
    }
    return refresh;
  }

  function live(onEvent) {
    const status = document.getElementById("live");
    const source = new EventSource("/api/handoffs/stream");
    source.addEventListener("ready", () => { if (status) status.textContent = "Live updates: on"; });
    source.addEventListener("handoff", (ev) => {
      let data = {};
      try { data = JSON.parse(ev.data); } catch (e) { /* ignore */ }
      onEvent(data);
    });
    source.onerror = () => { if (status) status.textContent = "Live updates: reconnecting…"; };
    return source;
  }

  function queuePage() {
    const queue = document.getElementById("queue");
    const refresh = refresher(queue);
    queue.addEventListener("click", async (ev) => {
      const button = ev.target.closest("button[data-claim]");
      if (!button) return;
      button.disabled = true;
      try {
        await api("POST", "/api/handoffs/" + encodeURIComponent(button.dataset.claim) + "/claim");
        flash("");
      } catch (e) {
        flash("Could not claim: " + e.message);
      }
      refresh();
    });
    live(() => refresh());
    setInterval(refresh, 30000);  // waiting times, and a safety net if the stream drops
  }

  function chatPage() {
    const chat = document.getElementById("chat");
    const id = chat.dataset.id;
    const base = "/api/handoffs/" + encodeURIComponent(id);
    const reply = document.getElementById("reply");
    const form = document.getElementById("reply-form");

    function state() {
      const head = document.getElementById("chat-head");
      const status = head ? head.dataset.status : "";
      document.getElementById("send").disabled = status !== "claimed";
      document.getElementById("release").disabled = status !== "claimed";
      document.getElementById("close").disabled = status === "closed" || status === "returned";
    }
    // The transcript scrolls inside its own box (the page doesn't jump): to its end when it grew.
    let seen = -1;
    function toEnd() {
      const t = document.getElementById("transcript");
      if (!t) return;
      if (t.children.length !== seen) t.scrollTop = t.scrollHeight;
      seen = t.children.length;
    }
    const refresh = refresher(chat, () => { state(); toEnd(); });
    state();

    document.querySelectorAll(".canned button").forEach((b) => b.addEventListener("click", () => {
      reply.value = b.dataset.text;
      reply.focus();
    }));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const text = reply.value.trim();
      if (!text) return;
      const send = document.getElementById("send");
      send.disabled = true;
      try {
        await api("POST", base + "/messages", { text });
        reply.value = "";
        flash("");
      } catch (e) {
        flash("Not sent: " + e.message);
      }
      send.disabled = false;
      refresh();
    });
    document.getElementById("release").addEventListener("click", async () => {
      try { await api("POST", base + "/release"); flash(""); location.href = "/inbox"; }
      catch (e) { flash("Could not release: " + e.message); }
    });
    document.getElementById("close-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const referral = document.getElementById("referral").value || null;
      try {
        await api("POST", base + "/close", { outcome: document.getElementById("outcome").value, referral });
        flash("");
      } catch (e) { flash("Could not close: " + e.message); }
      refresh();
    });
    document.getElementById("note-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const note = document.getElementById("note");
      const text = note.value.trim();
      if (!text) return;
      try { await api("POST", base + "/notes", { text }); note.value = ""; flash(""); }
      catch (e) { flash("Note not saved: " + e.message); }
      refresh();
    });
    // "The bot should have known this": the trainee message goes to the admins' learning queue (text only).
    chat.addEventListener("click", async (ev) => {
      const button = ev.target.closest(".mark-missed");
      if (!button) return;
      try {
        await api("POST", base + "/messages/" + encodeURIComponent(button.dataset.message) + "/missed");
        button.disabled = true;
        button.textContent = "Sent to the learning queue";
        flash("");
      } catch (e) { flash("Not marked: " + e.message); }
    });
    live((data) => { if (!data.handoff || data.handoff === id) refresh(); });
    setInterval(refresh, 5000);  // delivery states, and a safety net if the stream drops
    toEnd();
  }

  return { queuePage, chatPage, api };
})();
