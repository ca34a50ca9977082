// The demo's browser side: connects to siod's "chat" application (or its
// PHP twin, conf/php/chat.php, under `make run HANDLERS=php`) through
// mod_socketio and renders messages, rooms, typing indicators and the
// connection state. The server knows only socket ids, so a nickname travels
// inside each message's text as "nick: text" and ids are mapped to the
// nicknames seen so far.
'use strict';

(() => {
  const TYPING_SHOW_MS = 2000;   // an indicator fades this long after the last "typing"
  const TYPING_EVERY_MS = 1000;  // send "typing" at most this often
  const NICK_RE = /^([^:\n]{1,24}): ([\s\S]*)$/;

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('status'), statusText: $('status-text'), myId: $('my-id'),
    nickForm: $('nick-form'), nick: $('nick'),
    roomForm: $('room-form'), room: $('room'), rooms: $('rooms'),
    roomsEmpty: $('rooms-empty'),
    messages: $('messages'), typing: $('typing'),
    sendForm: $('send-form'), target: $('target'), text: $('text'),
  };

  const nicks = new Map();   // socket id -> last nickname it used
  const typers = new Map();  // socket id -> timer that removes it
  const rooms = new Set();   // rooms this tab joined
  let lastTypingSent = 0;
  let socket = null;         // set once the client script has loaded

  // --- nickname (per tab: sessionStorage, so two tabs are two people) ---
  function cleanNick(s) {
    return s.replace(/[:\n\r]/g, '').trim().slice(0, 24);
  }
  function loadNick() {
    let n = '';
    try { n = sessionStorage.getItem('sio-demo-nick') || ''; } catch (e) { /* storage off */ }
    return cleanNick(n) || 'guest-' + Math.floor(1000 + Math.random() * 9000);
  }
  let myNick = loadNick();
  ui.nick.value = myNick;

  // --- rendering ---
  function timeOf(ts) {
    const d = new Date(typeof ts === 'number' ? ts : Date.now());
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  function hue(id) {
    let h = 0;
    for (const c of String(id)) h = (h * 31 + c.charCodeAt(0)) % 360;
    return h;
  }
  function nameOf(id) {
    return nicks.get(id) || 'user ' + String(id).slice(0, 6);
  }
  function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }
  function addNotice(text) {
    const li = document.createElement('li');
    li.className = 'notice';
    li.textContent = text;
    ui.messages.append(li);
    scrollToEnd();
  }
  // Renders one {id, text, ts[, room]} message; text may carry "nick: ".
  function addMessage(msg) {
    if (!msg || typeof msg.text !== 'string') return;
    const m = NICK_RE.exec(msg.text);
    const id = String(msg.id || '');
    if (m) nicks.set(id, m[1]);
    stopTyping(id);

    const li = document.createElement('li');
    li.className = 'msg';
    if (socket && id === socket.id) li.classList.add('mine');
    li.dataset.id = id;
    if (msg.room !== undefined) li.dataset.room = String(msg.room);

    const meta = document.createElement('div');
    meta.className = 'meta';
    const who = document.createElement('span');
    who.className = 'who';
    // Colour by nickname: it survives the new socket id of a reconnect.
    who.style.setProperty('--h', hue(m ? m[1] : id));
    who.textContent = m ? m[1] : nameOf(id);
    meta.append(who);
    if (msg.room !== undefined) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = '#' + msg.room;
      meta.append(tag);
    }
    const time = document.createElement('time');
    if (typeof msg.ts === 'number') time.dateTime = new Date(msg.ts).toISOString();
    time.textContent = timeOf(msg.ts);
    meta.append(time);

    const body = document.createElement('p');
    body.className = 'text';
    body.textContent = m ? m[2] : msg.text;
    li.append(meta, body);
    ui.messages.append(li);
    scrollToEnd();
  }

  // --- typing indicator ---
  function renderTyping() {
    const names = [...typers.keys()].map(nameOf);
    if (names.length === 0) {
      ui.typing.classList.remove('on');
      return;
    }
    let text;
    if (names.length === 1) text = names[0] + ' is typing…';
    else if (names.length === 2) text = names[0] + ' and ' + names[1] + ' are typing…';
    else text = names.length + ' people are typing…';
    ui.typing.textContent = text;
    ui.typing.classList.add('on');
  }
  function startTyping(id) {
    clearTimeout(typers.get(id));
    typers.set(id, setTimeout(() => { typers.delete(id); renderTyping(); }, TYPING_SHOW_MS));
    renderTyping();
  }
  function stopTyping(id) {
    if (!typers.has(id)) return;
    clearTimeout(typers.get(id));
    typers.delete(id);
    renderTyping();
  }

  // --- rooms ---
  function renderRooms() {
    ui.rooms.replaceChildren();
    const chosen = ui.target.value;
    ui.target.replaceChildren(new Option('Everyone', ''));
    for (const r of [...rooms].sort()) {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = '#' + r;
      const leave = document.createElement('button');
      leave.type = 'button';
      leave.className = 'small';
      leave.textContent = 'Leave';
      leave.setAttribute('aria-label', 'Leave room ' + r);
      leave.addEventListener('click', () => leaveRoom(r));
      li.append(name, leave);
      ui.rooms.append(li);
      ui.target.append(new Option('#' + r, r));
    }
    ui.target.value = rooms.has(chosen) ? chosen : '';
    ui.roomsEmpty.hidden = rooms.size > 0;
  }
  function joinRoom(r, quiet) {
    if (!socket) return;
    socket.timeout(5000).emit('join', r, (err, ok) => {
      if (err || ok !== true) {
        addNotice('Could not join #' + r + (err ? ' (no answer)' : ''));
        return;
      }
      const isNew = !rooms.has(r);
      rooms.add(r);
      renderRooms();
      if (isNew) ui.target.value = r;
      if (!quiet) addNotice('You joined #' + r);
    });
  }
  function leaveRoom(r) {
    if (!socket) return;
    socket.timeout(5000).emit('leave', r, (err, ok) => {
      if (err || ok !== true) {
        addNotice('Could not leave #' + r);
        return;
      }
      rooms.delete(r);
      renderRooms();
      addNotice('You left #' + r);
    });
  }

  // --- connection status ---
  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.statusText.textContent = text;
  }
  function showTransport() {
    const eng = socket.io.engine;
    const t = eng && eng.transport ? eng.transport.name : '?';
    ui.status.dataset.transport = t;
    setStatus('connected', 'connected · ' + t);
  }

  // --- wiring ---
  ui.nickForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const n = cleanNick(ui.nick.value);
    if (!n) return;
    ui.nick.value = n;
    if (n !== myNick) addNotice('You are now ' + n);
    myNick = n;
    try { sessionStorage.setItem('sio-demo-nick', n); } catch (e) { /* storage off */ }
    if (socket && socket.id) nicks.set(socket.id, n);
  });

  ui.roomForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const r = ui.room.value.trim();
    if (!r) return;
    ui.room.value = '';
    joinRoom(r, false);
  });

  ui.sendForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = ui.text.value.trim();
    if (!text || !socket) return;
    const line = myNick + ': ' + text;
    const room = ui.target.value;
    if (room) socket.emit('room message', { room, text: line });
    else socket.emit('chat message', line);
    ui.text.value = '';
    lastTypingSent = 0;
    ui.text.focus();
  });

  ui.text.addEventListener('input', () => {
    const now = Date.now();
    if (socket && socket.connected && ui.text.value && now - lastTypingSent >= TYPING_EVERY_MS) {
      lastTypingSent = now;
      socket.emit('typing');
    }
  });

  if (typeof io !== 'function') {
    setStatus('error', 'no Socket.IO client (/socket.io/socket.io.js)');
    return;
  }
  // The page's PHP session (session.php) first: under `make run
  // HANDLERS=php` the connect callback (conf/php/chat.php) lets in only
  // browsers that have one; the C chat application does not look.
  function connect() {
    socket = io();
    const watched = new WeakSet();
    let wasConnected = false;

    socket.on('connect', () => {
      if (wasConnected) addNotice('Reconnected' + (rooms.size ? ', rejoining your rooms' : ''));
      wasConnected = true;
      ui.myId.textContent = socket.id;
      nicks.set(socket.id, myNick);
      showTransport();
      const eng = socket.io.engine;
      if (eng && !watched.has(eng)) {
        watched.add(eng);
        eng.on('upgrade', showTransport);
      }
      // A new session has no rooms: join again the ones this tab had.
      for (const r of rooms) joinRoom(r, true);
    });
    socket.on('disconnect', (reason) => {
      setStatus('reconnecting', 'disconnected (' + reason + ') · reconnecting…');
      addNotice('Connection lost (' + reason + '); reconnecting…');
      typers.forEach((t) => clearTimeout(t));
      typers.clear();
      renderTyping();
    });
    socket.on('connect_error', () => setStatus('reconnecting', 'cannot connect · retrying…'));
    socket.io.on('reconnect_attempt', (n) => setStatus('reconnecting', 'reconnecting… (attempt ' + n + ')'));

    socket.on('chat message', addMessage);
    socket.on('room message', addMessage);
    socket.on('typing', (t) => { if (t && t.id && t.id !== socket.id) startTyping(String(t.id)); });
  }
  fetch('session.php', { method: 'POST', credentials: 'same-origin' })
    .catch(() => { /* no PHP: the C application needs none */ })
    .finally(connect);

  renderRooms();
  addNotice('Open this page in a second tab and chat between them.');
})();
