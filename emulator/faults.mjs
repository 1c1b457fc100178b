// A list of one-shot or sticky rules: "for the next N matching requests" or
// "until cleared". Used for Cloudflare route faults and IdP misbehaviour.

export class RuleList {
  #rules = [];

  /**
   * @param {string} target route name or path the rule applies to ('*' = any)
   * @param {object} spec what to do (interpreted by the caller)
   * @param {number} [times] how many matching requests; omitted = until cleared
   */
  add(target, spec, times) {
    if (times !== undefined && !(Number.isInteger(times) && times > 0)) {
      throw new TypeError(`times must be a positive integer, got ${times}`);
    }
    this.#rules.push({ target, spec, remaining: times ?? Infinity });
  }

  /** Take the first rule matching `target`, counting one use of it. */
  take(target) {
    const i = this.#rules.findIndex((r) => r.target === '*' || r.target === target);
    if (i < 0) return null;
    const rule = this.#rules[i];
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.#rules.splice(i, 1);
    return rule.spec;
  }

  clear() {
    this.#rules = [];
  }

  list() {
    return this.#rules.map((r) => ({ target: r.target, ...r.spec, remaining: r.remaining === Infinity ? null : r.remaining }));
  }
}
