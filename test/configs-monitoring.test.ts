// The monitoring configs: Prometheus scrapes what docker-compose actually runs, with a scrape token
// each tier accepts, and the Grafana dashboard queries only the metric names the tiers export. YAML is read line by line (no parser
// dependency): these files are small and written to be read that way.
import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

// ---------------------------------------------------------------------------------------------
// docker-compose.yml and prometheus.yml, minimally.

interface ComposeService {
  name: string;
  /** The tier's config file from `--config configs/<file>`, if any. */
  configFile: string | null;
  /** Container side of each `ports:` mapping (first port of a range), TCP only. */
  containerPorts: number[];
  /** Bind mounts (`- ./host:/container[:ro]`), relative host paths as written. */
  volumes: Array<{ host: string; container: string }>;
}

function composeServices(text: string): ComposeService[] {
  const services: ComposeService[] = [];
  let inServices = false;
  let current: ComposeService | null = null;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      inServices = line.startsWith('services:');
      current = null;
      continue;
    }
    if (!inServices) continue;
    const service = /^ {2}([A-Za-z0-9_.-]+):\s*$/.exec(line);
    if (service?.[1]) {
      current = { name: service[1], configFile: null, containerPorts: [], volumes: [] };
      services.push(current);
      continue;
    }
    if (!current) continue;
    const config = /--config["',\s]+configs\/([\w.-]+\.json)/.exec(line);
    if (config?.[1]) current.configFile = config[1];
    const port = /^\s+-\s*["']?(?:[\d.]+:)?\d+(?:-\d+)?:(\d+)(?:-\d+)?(\/tcp)?["']?\s*(#.*)?$/.exec(line);
    if (port?.[1]) current.containerPorts.push(Number(port[1]));
    const volume = /^\s+-\s*["']?(\.{1,2}\/[^:\s"']+):(\/[^:\s"']+)(?::ro|:rw)?["']?\s*(#.*)?$/.exec(line);
    if (volume?.[1] && volume[2]) current.volumes.push({ host: volume[1], container: volume[2] });
  }
  return services;
}

interface ScrapeJob {
  job: string;
  metricsPath: string;
  targets: Array<{ host: string; port: number }>;
  /** The job's `authorization:` block: type, and the credentials inline or from a file. */
  authorization: { type: string | null; credentials: string | null; credentialsFile: string | null } | null;
}

function scrapeJobs(text: string): ScrapeJob[] {
  const jobs: ScrapeJob[] = [];
  let current: ScrapeJob | null = null;
  for (const line of text.split('\n')) {
    const job = /^\s*-\s*job_name:\s*['"]?([\w.-]+)/.exec(line);
    if (job?.[1]) {
      current = { job: job[1], metricsPath: '/metrics', targets: [], authorization: null };
      jobs.push(current);
      continue;
    }
    if (!current) continue;
    const path = /^\s*metrics_path:\s*['"]?(\S+?)['"]?\s*$/.exec(line);
    if (path?.[1]) current.metricsPath = path[1];
    if (/^\s*authorization:\s*$/.test(line)) current.authorization = { type: null, credentials: null, credentialsFile: null };
    const auth = /^\s*(type|credentials|credentials_file):\s*['"]?([^'"\s]+)['"]?\s*$/.exec(line);
    if (auth?.[1] && auth[2] && current.authorization) {
      if (auth[1] === 'type') current.authorization.type = auth[2];
      else if (auth[1] === 'credentials') current.authorization.credentials = auth[2];
      else current.authorization.credentialsFile = auth[2];
    }
    const target = /^\s*-\s*['"]?([\w.-]+):(\d+)['"]?\s*$/.exec(line);
    if (target?.[1] && target[2]) current.targets.push({ host: target[1], port: Number(target[2]) });
    // Inline form: targets: ['a:1', 'b:2']
    const inline = /^\s*-?\s*targets:\s*\[(.*)\]/.exec(line);
    for (const item of inline?.[1]?.split(',') ?? []) {
      const m = /['"]?([\w.-]+):(\d+)['"]?/.exec(item.trim());
      if (m?.[1] && m[2]) current.targets.push({ host: m[1], port: Number(m[2]) });
    }
  }
  return jobs;
}

t.test('prometheus.yml scrapes the origin and the edge by their compose service names and ports', async (t) => {
  const services = composeServices(read('docker-compose.yml'));
  const jobs = scrapeJobs(read('configs/prometheus.yml'));
  t.ok(services.length >= 2, `compose services: ${services.map((s) => s.name).join(', ')}`);
  t.ok(jobs.length >= 2, `scrape jobs: ${jobs.map((j) => j.job).join(', ')}`);

  const scraped = new Set<string>();
  for (const job of jobs) {
    t.equal(job.metricsPath, '/metrics', `${job.job} metrics_path`);
    t.ok(job.targets.length > 0, `${job.job} has targets`);
    for (const { host, port } of job.targets) {
      const service = services.find((s) => s.name === host);
      t.ok(service, `${job.job}: target host "${host}" is a docker-compose service`);
      if (!service) continue;
      t.ok(service.configFile, `${host} runs with a --config file`);
      if (!service.configFile) continue;
      const config = JSON.parse(read(`configs/${service.configFile}`)) as { http?: { port?: number } };
      t.equal(port, config.http?.port, `${job.job}: ${host}:${port} is the port configs/${service.configFile} listens on`);
      t.ok(service.containerPorts.includes(port), `${host}: docker-compose maps container port ${port}`);
      scraped.add(host);
    }
  }
  // Every scopecast tier in the compose file is scraped.
  for (const service of services.filter((s) => s.configFile)) {
    t.ok(scraped.has(service.name), `service ${service.name} is scraped`);
  }
  t.ok(scraped.has('origin') && scraped.has('edge'), 'origin and edge both scraped');
});

t.test('the minimal compose reader understands the forms it meets', async (t) => {
  const services = composeServices(['services:', '  a:', '    command: ["x", "--config", "configs/a.json"]', '    ports:',
    '      - "8090:8090"', '      - "40000-40099:40000-40099/udp"', '      - 127.0.0.1:9000:9001', '  b:', '    image: x', '    volumes:',
    '      - ./configs/x.yml:/etc/x.yml:ro', '      - "./configs/t:/etc/t"', 'volumes:', '  data:'].join('\n'));
  t.same(services, [
    { name: 'a', configFile: 'a.json', containerPorts: [8090, 9001], volumes: [] },
    { name: 'b', configFile: null, containerPorts: [], volumes: [{ host: './configs/x.yml', container: '/etc/x.yml' }, { host: './configs/t', container: '/etc/t' }] },
  ]);
  t.same(scrapeJobs("scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: ['h:1', \"g:2\"]\n").at(0)?.targets,
    [{ host: 'h', port: 1 }, { host: 'g', port: 2 }]);
  const jobs = scrapeJobs(['scrape_configs:', '  - job_name: x', '    authorization:', '      type: Bearer', '      credentials_file: /run/t',
    '  - job_name: y', '    authorization:', "      credentials: 'abc'", '  - job_name: z'].join('\n'));
  t.same(jobs.map((j) => j.authorization), [
    { type: 'Bearer', credentials: null, credentialsFile: '/run/t' },
    { type: null, credentials: 'abc', credentialsFile: null },
    null,
  ]);
});

t.test('prometheus.yml scrapes with a bearer token that each scraped tier accepts', async (t) => {
  const services = composeServices(read('docker-compose.yml'));
  const prometheus = services.find((s) => s.name === 'prometheus');
  t.ok(prometheus, 'compose runs prometheus');
  for (const job of scrapeJobs(read('configs/prometheus.yml'))) {
    const auth = job.authorization;
    t.ok(auth, `${job.job}: has an authorization block (/metrics refuses a scrape without a token)`);
    if (!auth) continue;
    t.ok(auth.type === null || auth.type === 'Bearer', `${job.job}: Bearer (the default type)`);
    let token = auth.credentials;
    if (auth.credentialsFile) {
      // The file Prometheus reads inside its container is a file of this repository mounted there.
      const mount = prometheus?.volumes.find((v) => v.container === auth.credentialsFile);
      t.ok(mount, `${job.job}: ${auth.credentialsFile} is mounted into the prometheus container`);
      if (!mount) continue;
      t.ok(existsSync(new URL(`../${mount.host}`, import.meta.url)), `${mount.host} exists`);
      token = read(mount.host).trim(); // Prometheus trims the file's whitespace
    }
    t.ok(token, `${job.job}: a token, inline or from a file`);
    for (const { host } of job.targets) {
      const configFile = services.find((s) => s.name === host)?.configFile;
      if (!configFile) continue; // reported by the test above
      const config = JSON.parse(read(`configs/${configFile}`)) as { auth?: { scrapeTokens?: string[] } };
      t.ok(config.auth?.scrapeTokens?.includes(token ?? ''), `${job.job}: configs/${configFile} lists the token Prometheus sends in auth.scrapeTokens`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The Grafana dashboard.

/** Metric names are final (issue 4); a histogram is queried through its _bucket/_sum/_count series. */
const HISTOGRAMS = ['scopecast_latency_seconds'];
const GAUGES_AND_COUNTERS = [
  'scopecast_viewers',
  'scopecast_ingest_bitrate_bps',
  'scopecast_ingest_fps',
  'scopecast_encoder_speed',
  'scopecast_encoder_dropped_frames',
  'scopecast_latency_alerts',
  'scopecast_live_streams',
  'scopecast_hls_requests_total',
];
const ALLOWED_METRICS = new Set([
  ...GAUGES_AND_COUNTERS,
  ...HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
]);
const PROMQL_FUNCTIONS = new Set([
  'sum', 'max', 'min', 'avg', 'count', 'topk', 'bottomk', 'rate', 'irate', 'increase', 'delta', 'deriv',
  'histogram_quantile', 'vector', 'scalar', 'clamp_min', 'clamp_max', 'abs', 'label_replace', 'max_over_time', 'avg_over_time',
]);
const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset']);
const LABELS = new Set(['stream', 'path', 'hop', 'kind', 'status', 'le']);
const LABEL_VALUES: Record<string, Set<string>> = {
  path: new Set(['webrtc', 'llhls', '$path']),
  hop: new Set(['ingest_to_encoded', 'edge_to_origin', 'origin_to_player', 'end_to_end']),
};

interface Reference {
  metrics: string[];
  functions: string[];
  unknown: string[];
  matchers: Array<{ label: string; value: string }>;
}

/** The identifiers of a PromQL expression, sorted into metrics, functions and the rest. */
function promqlReferences(expr: string): Reference {
  const matchers: Array<{ label: string; value: string }> = [];
  let rest = expr.replace(/\{([^}]*)\}/g, (_all, body: string) => {
    for (const m of body.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
      if (m[1] !== undefined && m[2] !== undefined) matchers.push({ label: m[1], value: m[2] });
    }
    return ' ';
  });
  rest = rest
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ') // strings
    .replace(/\[[^\]]*\]/g, ' ') // range selectors, [$__rate_interval]
    // Grouping clauses go entirely, so `sum by (le) (...)` reads as the call `sum (...)`.
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g, (_all, labels: string) => {
      for (const label of labels.split(',').map((l) => l.trim()).filter(Boolean)) matchers.push({ label, value: '' });
      return ' ';
    })
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, ' ');
  const out: Reference = { metrics: [], functions: [], unknown: [], matchers };
  for (const m of rest.matchAll(/([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const name = m[1] ?? '';
    if (m[2]) out.functions.push(name);
    else if (PROMQL_KEYWORDS.has(name)) continue;
    else if (name.startsWith('scopecast_')) out.metrics.push(name);
    else out.unknown.push(name);
  }
  return out;
}

interface Target { expr?: string; datasource?: { type?: string; uid?: string } }
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: unknown; datasource?: { uid?: string } }> };
}

t.test('promqlReferences separates metrics, functions and labels', async (t) => {
  const ref = promqlReferences('histogram_quantile(0.95, sum by (le, stream) (rate(scopecast_latency_seconds_bucket{stream=~"$stream", hop="end_to_end"}[$__rate_interval]))) or vector(0)');
  t.same(ref.metrics, ['scopecast_latency_seconds_bucket']);
  t.same(ref.functions, ['histogram_quantile', 'sum', 'rate', 'vector']);
  t.same(ref.unknown, []);
  t.same(ref.matchers.map((m) => m.label).sort(), ['hop', 'le', 'stream', 'stream']);
  t.same(promqlReferences('up + node_load1').unknown, ['up', 'node_load1'], 'non-scopecast series are caught');
});

t.test('the Grafana dashboard parses and queries only the final metric names', async (t) => {
  const dashboard = JSON.parse(read('configs/grafana/scopecast-dashboard.json')) as Dashboard;
  t.ok(dashboard.uid && dashboard.title, 'has uid and title');

  const variables = dashboard.templating.list;
  const dsVar = variables.find((v) => v.type === 'datasource');
  t.match(dsVar, { name: 'datasource', query: 'prometheus' }, 'a datasource variable picks the Prometheus instance');
  for (const v of variables.filter((v) => v.type === 'query')) t.equal(v.datasource?.uid, '${datasource}', `variable ${v.name} uses it`);

  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const ids = panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const used = new Set<string>();
  let queries = 0;
  for (const panel of panels) {
    t.ok(panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: fits the 24-column grid`);
    if (panel.type === 'row') continue;
    t.same(panel.datasource, { type: 'prometheus', uid: '${datasource}' }, `${panel.title}: datasource by variable`);
    t.ok((panel.targets ?? []).length > 0, `${panel.title}: has a query`);
    for (const target of panel.targets ?? []) {
      queries++;
      t.same(target.datasource, { type: 'prometheus', uid: '${datasource}' }, `${panel.title}: target datasource by variable`);
      const expr = target.expr ?? '';
      const ref = promqlReferences(expr);
      t.ok(ref.metrics.length > 0, `${panel.title}: queries a scopecast metric`);
      t.same(ref.metrics.filter((m) => !ALLOWED_METRICS.has(m)), [], `${panel.title}: only final metric names in ${expr}`);
      t.same(ref.unknown, [], `${panel.title}: no other series in ${expr}`);
      t.same(ref.functions.filter((f) => !PROMQL_FUNCTIONS.has(f)), [], `${panel.title}: known PromQL functions`);
      for (const { label, value } of ref.matchers) {
        t.ok(LABELS.has(label), `${panel.title}: label ${label}`);
        const allowed = LABEL_VALUES[label];
        if (allowed && value) t.ok(allowed.has(value), `${panel.title}: ${label}="${value}"`);
      }
      for (const m of ref.metrics) used.add(m);
    }
  }
  t.ok(queries >= 10, `${queries} queries`);
  for (const metric of [...GAUGES_AND_COUNTERS, ...HISTOGRAMS.map((h) => `${h}_bucket`)]) {
    t.ok(used.has(metric), `some panel shows ${metric}`);
  }
  // p50 and p95 per stream/path/hop come from histogram_quantile over the latency histogram.
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr ?? ''));
  for (const quantile of ['0.5', '0.95']) {
    t.ok(exprs.some((e) => e.startsWith(`histogram_quantile(${quantile}, sum by (le, stream, path, hop)`)), `p${Number(quantile) * 100} per stream/path/hop`);
  }
});

t.test('Grafana provisioning: datasource points at the compose Prometheus, the provider at the dashboard', async (t) => {
  const datasource = read('configs/grafana/provisioning/datasources/prometheus.yml');
  t.match(datasource, /^\s*type:\s*prometheus\s*$/m);
  t.match(datasource, /^\s*url:\s*http:\/\/prometheus:9090\s*$/m);
  t.match(datasource, /^apiVersion:\s*1\s*$/m);
  const provider = read('configs/grafana/provisioning/dashboards/scopecast.yml');
  t.match(provider, /^\s*type:\s*file\s*$/m);
  t.match(provider, /^\s*path:\s*\/\S+\s*$/m, 'an absolute path inside the container');
  t.ok(existsSync(new URL('../configs/grafana/scopecast-dashboard.json', import.meta.url)));
  // docker-compose runs them: prometheus under that name, Grafana mounting the dashboard where the provider looks.
  const compose = read('docker-compose.yml');
  const services = composeServices(compose).map((s) => s.name);
  t.ok(services.includes('prometheus') && services.includes('grafana'), `compose has prometheus and grafana (${services.join(', ')})`);
  const providerPath = /^\s*path:\s*(\/\S+)\s*$/m.exec(provider)?.[1];
  t.match(compose, new RegExp(`configs/grafana/scopecast-dashboard\\.json:${providerPath}/`), 'the dashboard is mounted in the provider path');
  t.match(compose, /\.\/configs\/prometheus\.yml:\/etc\/prometheus\/prometheus\.yml/, 'prometheus.yml is mounted');
});
