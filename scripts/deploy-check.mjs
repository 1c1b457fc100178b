// `make deploy`'s check before `wrangler deploy` (scripts/deploy.sh): runs the Worker's own settings
// check (the native binary `check-settings`, i.e. the Worker's Config::from_lookup) against the
// [vars] of the wrangler.toml being deployed, read by wrangler's own config reader, and the names of
// the secrets the Worker has (`wrangler secret list`: names only, a secret that exists counts as set).
// Refuses (exit 1) with the list of what is missing or wrong.
//
// Takes the arguments of `wrangler deploy` and uses --config/-c, --env/-e and --name from them, so
// the check reads the same configuration and Worker that the deploy will use.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { unstable_readConfig } from 'wrangler';

const repo = fileURLToPath(new URL('../', import.meta.url));
const say = (s) => console.log(`deploy check: ${s}`);
const fail = (s) => {
  console.error(`deploy check: ${s}`);
  process.exit(1);
};

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  strict: false,
  allowPositionals: true,
  options: { config: { type: 'string', short: 'c' }, env: { type: 'string', short: 'e' }, name: { type: 'string' } },
});
const configPath = typeof args.config === 'string' ? args.config : undefined;
const envName = typeof args.env === 'string' ? args.env : undefined;

let config;
try {
  config = unstable_readConfig({ config: configPath, env: envName }, { hideWarnings: true });
} catch (e) {
  fail(`cannot read ${configPath ?? 'wrangler.toml'}: ${e.message}`);
}
const workerName = typeof args.name === 'string' ? args.name : config.name;
const file = config.configPath ? relative(process.cwd(), config.configPath) || config.configPath : (configPath ?? 'wrangler.toml');
const where = `${file}${envName ? ` (env ${envName})` : ''}`;

if (process.env.CF_API_TOKEN && !process.env.CLOUDFLARE_API_TOKEN) {
  say('note: CF_API_TOKEN is set in this shell; wrangler takes it as its own login (an old name of CLOUDFLARE_API_TOKEN). If it is the API Shield token, `unset CF_API_TOKEN` first.');
}

// The secrets' names. A Worker that does not exist yet has none.
const passthrough = [...(configPath ? ['--config', configPath] : []), ...(envName ? ['--env', envName] : []), ...(workerName ? ['--name', workerName] : [])];
const listed = spawnSync('npx', ['wrangler', 'secret', 'list', '--format', 'json', ...passthrough], { cwd: repo, encoding: 'utf8' });
let secrets;
let loginProblem = null; // why the secrets could not be listed: the vars are still checked, then refused
if (listed.status === 0) {
  const text = listed.stdout;
  try {
    secrets = JSON.parse(text.slice(text.indexOf('['), text.lastIndexOf(']') + 1)).map((s) => s.name);
  } catch (e) {
    fail(`cannot read the answer of \`wrangler secret list --format json\` (${e.message}):\n${text.trim()}`);
  }
  if (!secrets.every((n) => typeof n === 'string')) fail(`unexpected answer of \`wrangler secret list\`:\n${text.trim()}`);
} else {
  const output = `${listed.stdout ?? ''}\n${listed.stderr ?? ''}`;
  if (/Worker "[^"]*"(?: \(env: [^)]*\))? not found/.test(output)) {
    say(`the Worker ${workerName} does not exist yet, so it has no secrets`);
    secrets = [];
  } else {
    const lines = output.replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n').filter((l) => l.trim() !== '').slice(-8);
    loginProblem =
      `cannot list the secrets of the Worker ${workerName} with \`wrangler secret list\`` +
      `${listed.error ? ` (${listed.error.message})` : ''}; is wrangler logged in (\`bash scripts/wrangler.sh login\`, or CLOUDFLARE_API_TOKEN)? Not deploying.\n` +
      lines.map((l) => `  ${l}`).join('\n');
    // The vars are checked all the same, so one run shows everything to fix; the secrets are
    // taken as set (whether they are cannot be known without a login).
    secrets = ['CF_API_TOKEN', 'SYNC_AUTH_TOKEN'];
  }
}

if (loginProblem) say(`the settings in [vars] of ${where}; the secrets cannot be listed, so they are taken as set`);
else say(`the settings in [vars] of ${where} and the secrets of the Worker ${workerName} (${secrets.length ? secrets.join(', ') : 'none'})`);
const input = JSON.stringify({ vars: config.vars ?? {}, secrets });
const build = spawnSync('cargo', ['build', '--quiet', '--locked', '--bin', 'check-settings'], { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
if (build.status !== 0) fail(`building the settings check failed (cargo build --bin check-settings)${build.error ? `: ${build.error.message}` : ''}`);
const checked = spawnSync('cargo', ['run', '--quiet', '--locked', '--bin', 'check-settings'], { cwd: repo, input, encoding: 'utf8' });
process.stdout.write(checked.stdout ?? '');
process.stderr.write(checked.stderr ?? '');
if (loginProblem) fail(loginProblem);
if (checked.status === 0) {
  if (!config.triggers?.crons?.length) {
    say(`note: ${where} has no [triggers] crons: the Worker will sync only on POST /, and deploying removes any schedule it had`);
  }
  process.exit(0);
}
if (checked.status === 1) {
  fail(`not deploying. Vars go in [vars] of ${where} (README, "Settings"); secrets with \`bash scripts/wrangler.sh secret put NAME\` (README, "Deploying", step 5).`);
}
fail(`the settings check did not run (exit ${checked.status ?? checked.error?.message})`);
