// Floor 3: the pass-through floor routed through a SQLite-backed Durable Object that records the
// run as ours does in the steady state (a run row inserted at the start, updated at the end, the
// history pruned: three statements, three rows written). What one target's Durable Object costs
// a sync before any of our code runs (issue 11: "what the Durable Object adds").
import { DurableObject } from 'cloudflare:workers';

export class FloorState extends DurableObject {
  async fetch() {
    const sql = this.ctx.storage.sql;
    sql.exec('CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL, finished_ms INTEGER)');
    const [{ id }] = sql.exec('INSERT INTO runs (started_ms) VALUES (?) RETURNING id', Date.now()).toArray();
    const r = await fetch(this.env.JWKS_URL);
    const body = await r.text();
    sql.exec('UPDATE runs SET finished_ms = ? WHERE id = ?', Date.now(), id);
    sql.exec('DELETE FROM runs WHERE id <= ?', id - 50);
    return new Response(body, { status: r.status, headers: { 'Content-Type': 'application/json' } });
  }
}

export default {
  async fetch(request, env) {
    const r = await env.FLOOR_STATE.getByName('target').fetch('https://floor-state/run', { method: 'POST' });
    return new Response(await r.text(), { status: r.status, headers: { 'Content-Type': 'application/json' } });
  },
};
