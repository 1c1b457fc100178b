// Receivers for what the Worker sends besides its sync: alert webhooks and heartbeat pings.
//
// A sink answers any method at /sink/{name} and below (/sink/{name}/fail, as healthchecks.io's
// failure URL), records each request, and answers 200 "ok" (the success body of Slack and
// healthchecks.io) unless told otherwise with respond(). Sinks are created on first use, by a
// request or by name, so a Worker can be pointed at one before any test code touches it.

import { RuleList } from './faults.mjs';

export const SINK_PATH = '/sink';

export class Sink {
  #rules = new RuleList();

  /**
   * @param {string} name
   * @param {() => string} getOrigin the emulator's http://host:port
   */
  constructor(name, getOrigin) {
    this.name = name;
    this.getOrigin = getOrigin;
    /** Every request received, oldest first: {time, method, path, query, headers, body, status}. */
    this.received = [];
  }

  /** The sink's URL; `sub` (e.g. 'fail') is appended as a path segment. */
  url(sub) {
    return `${this.getOrigin()}${SINK_PATH}/${this.name}${sub ? `/${sub}` : ''}`;
  }

  /**
   * Answer the next `times` requests (or all, until clear()) with `status` (and `retryAfter`
   * seconds, `body`), after `delayMs`. `status` defaults to 200.
   */
  respond({ status = 200, body, retryAfter, delayMs, times } = {}) {
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new TypeError(`status must be an HTTP status, got ${status}`);
    this.#rules.add('*', { status, body, retryAfter, delayMs }, times);
  }

  /** Forget what was received and every respond() rule. */
  clear() {
    this.received.splice(0);
    this.#rules.clear();
  }

  /** Record one request; returns {status, headers, body, delayMs?} for the server to send. */
  receive(record) {
    const rule = this.#rules.take('*') ?? { status: 200 };
    const body = rule.body ?? (rule.status < 300 ? 'ok' : `sink ${this.name} answers ${rule.status}`);
    const headers = { 'content-type': 'text/plain' };
    if (rule.retryAfter !== undefined) headers['retry-after'] = String(rule.retryAfter);
    this.received.push({ ...record, status: rule.status });
    return { status: rule.status, headers, body, ...(rule.delayMs ? { delayMs: rule.delayMs } : {}) };
  }

  state() {
    return { name: this.name, url: this.url(), received: this.received, rules: this.#rules.list() };
  }
}
