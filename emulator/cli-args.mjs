// Parsing helpers of the command line, importable without starting a server.

/** Parse "ROUTE:KIND[=V][,times=N][,k=v...]" into a fault spec. */
export function parseFault(text) {
  const i = text.indexOf(':');
  if (i < 0) throw new Error(`--fault ${text}: expected ROUTE:KIND`);
  const spec = { route: text.slice(0, i) };
  for (const part of text.slice(i + 1).split(',')) {
    const [k, v] = part.split('=');
    switch (k) {
      case 'status': spec.status = Number(v); break;
      case 'code': spec.code = Number(v); break;
      case 'delay': spec.delayMs = Number(v); break;
      case 'times': spec.times = Number(v); break;
      case 'malformed': spec.malformed = true; break;
      case 'drop': spec.drop = true; break;
      case 'apply': spec.apply = true; break;
      default: throw new Error(`--fault ${text}: unknown part ${part}`);
    }
  }
  return spec;
}
