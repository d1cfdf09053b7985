// The desk's end of /ws/wall: every case raised, updated or decided by anyone, for the cameras this user may
// see. Reconnects by itself (capped backoff); each (re)connection says "hello", and the desk then re-reads its
// queue, because pushes sent while the socket was down are gone. A 4401 close means the session ended.
import { toLogin } from "./nav.js";

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10000;

/**
 * @param {{ onMessage: (msg: object) => void, onOnline: () => void, onOffline: () => void }} handlers
 * @returns {{ close: () => void }}
 */
export function openChannel({ onMessage, onOnline, onOffline }) {
  let retryMs = FIRST_RETRY_MS;
  let socket = null;
  let closed = false;

  function connect() {
    if (closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/wall`);
    socket.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch (_) { return; }
      if (msg.type === "hello") {
        retryMs = FIRST_RETRY_MS;
        onOnline();
        return;
      }
      onMessage(msg);
    };
    socket.onclose = (event) => {
      if (closed) return;
      if (event.code === 4401) { toLogin(); return; }
      onOffline();
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
    };
  }

  connect();
  return {
    close() {
      closed = true;
      if (socket) socket.close();
    },
  };
}
