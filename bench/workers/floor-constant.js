// Floor 1: the cost of an invocation that does nothing (a constant response).
export default {
  fetch() {
    return new Response('{"ok":true}', { headers: { 'Content-Type': 'application/json' } });
  },
};
