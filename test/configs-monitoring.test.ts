// The deployment configs: docker-compose runs two origins on one Redis and an edge, each with a config
// that passes its tier's schema; Prometheus scrapes what docker-compose actually runs, with a scrape
// token each tier accepts; the Grafana dashboard queries only the metric names the tiers export.
// YAML is read line by line (no parser dependency): these files are small and written to be read
// that way; `docker compose config -q` checks the real syntax where compose is installed.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { loadEdgeConfig, loadOriginConfig, readConfigFile, type EdgeConfig, type OriginConfig } from '../configs/index.js';
import type { ScopecastError } from '../lib/errors.js';

const run = promisify(execFile);

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

// ---------------------------------------------------------------------------------------------
// docker-compose.yml and prometheus.yml, minimally.

interface PublishedPort {
  /** Host side, first and last port of a range (equal for one port). */
  host: [number, number];
  /** Container side, first and last port. */
  container: [number, number];
  protocol: 'tcp' | 'udp';
}

interface ComposeService {
  name: string;
  /** The scopecast tier it runs (`bin/<tier>.ts` in its command), if any. */
  tier: 'origin' | 'edge' | null;
  /** The tier's config file from `--config configs/<file>`, if any. */
  configFile: string | null;
  /** The command's first word (`node`, `npx`...), if the service has a command. */
  program: string | null;
  /** Container side of each `ports:` mapping (first port of a range), TCP only. */
  containerPorts: number[];
  /** Every `ports:` mapping, TCP and UDP. */
  published: PublishedPort[];
  /** Bind mounts (`- ./host:/container[:ro]`), relative host paths as written. */
  volumes: Array<{ host: string; container: string }>;
  /** Named volumes (`- name:/container[:ro]`). */
  namedVolumes: Array<{ name: string; container: string }>;
  dependsOn: string[];
  restart: string | null;
  stopGracePeriod: string | null;
  init: boolean;
}

function composeServices(text: string): ComposeService[] {
  const services: ComposeService[] = [];
  let inServices = false;
  let current: ComposeService | null = null;
  let key = '';
  for (const line of text.split('\n')) {
    if (/^\s*(#.*)?$/.test(line)) continue;
    if (/^\S/.test(line)) {
      inServices = line.startsWith('services:');
      current = null;
      continue;
    }
    if (!inServices) continue;
    const service = /^ {2}([A-Za-z0-9_.-]+):\s*$/.exec(line);
    if (service?.[1]) {
      current = {
        name: service[1], tier: null, configFile: null, program: null, containerPorts: [], published: [], volumes: [], namedVolumes: [],
        dependsOn: [], restart: null, stopGracePeriod: null, init: false,
      };
      services.push(current);
      continue;
    }
    if (!current) continue;
    const field = /^ {4}([a-z_]+):\s*(.*?)\s*$/.exec(line);
    if (field?.[1] !== undefined) {
      key = field[1];
      const value = (field[2] ?? '').replace(/\s+#.*$/, '').replace(/^["']|["']$/g, '');
      if (key === 'restart') current.restart = value;
      if (key === 'stop_grace_period') current.stopGracePeriod = value;
      if (key === 'init') current.init = value === 'true';
      if (key === 'command') current.program = /^\[?\s*["']?([^"',\s\]]+)/.exec(value)?.[1] ?? null;
    }
    const config = /--config["',\s]+configs\/([\w.-]+\.json)/.exec(line);
    if (config?.[1]) current.configFile = config[1];
    const tier = /["'\s]bin\/(origin|edge)\.ts["'\s,]/.exec(line);
    if (tier?.[1] === 'origin' || tier?.[1] === 'edge') current.tier = tier[1];
    const item = /^\s+-\s*["']?([^"'#]*?)["']?\s*(#.*)?$/.exec(line)?.[1];
    if (item === undefined) continue;
    if (key === 'ports') {
      const port = /^(?:[\d.]+:)?(\d+)(?:-(\d+))?:(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(item);
      if (!port) continue;
      const [hostFirst, hostLast, first, last] = [port[1], port[2] ?? port[1], port[3], port[4] ?? port[3]].map(Number) as [number, number, number, number];
      const protocol = port[5] === 'udp' ? 'udp' : 'tcp';
      current.published.push({ host: [hostFirst, hostLast], container: [first, last], protocol });
      if (protocol === 'tcp') current.containerPorts.push(first);
    } else if (key === 'volumes') {
      const bind = /^(\.{1,2}\/[^:\s]+):(\/[^:\s]+)(?::ro|:rw)?$/.exec(item);
      if (bind?.[1] && bind[2]) current.volumes.push({ host: bind[1], container: bind[2] });
      const named = /^([A-Za-z0-9][\w.-]*):(\/[^:\s]*)(?::ro|:rw)?$/.exec(item);
      if (named?.[1] && named[2]) current.namedVolumes.push({ name: named[1], container: named[2] });
    } else if (key === 'depends_on') {
      if (/^[\w.-]+$/.test(item)) current.dependsOn.push(item);
    }
  }
  return services;
}

/** The names under the top-level `volumes:` key. */
function composeVolumes(text: string): string[] {
  const names: string[] = [];
  let inVolumes = false;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      inVolumes = /^volumes:\s*(#.*)?$/.test(line);
      continue;
    }
    const name = inVolumes ? /^ {2}([A-Za-z0-9][\w.-]*):/.exec(line)?.[1] : undefined;
    if (name) names.push(name);
  }
  return names;
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
  const origins = services.filter((s) => s.tier === 'origin').map((s) => s.name);
  t.ok(origins.length >= 2 && origins.every((name) => scraped.has(name)), `every origin scraped (${origins.join(', ')})`);
  t.ok(scraped.has('edge'), 'the edge scraped');
});

t.test('the minimal compose reader understands the forms it meets', async (t) => {
  const text = ['services:', '  a:', '    command: ["node", "--import", "tsx", "bin/origin.ts", "--config", "configs/a.json"]', '    init: true', '    ports:',
    '      - "8090:8090"', '      # a comment', '      - "40000-40099:40000-40099/udp"', '      - 127.0.0.1:9000:9001', '    volumes:', '      - a-data:/home/node',
    '    depends_on:', '      - b', '    restart: unless-stopped', '    stop_grace_period: 25s # comment', '  b:', '    image: x', '    volumes:',
    '      - ./configs/x.yml:/etc/x.yml:ro', '      - "./configs/t:/etc/t"', '      - "b-data:/data:ro"', 'volumes:', '  a-data:', '  b-data: {}'].join('\n');
  const services = composeServices(text);
  t.same(services, [
    {
      name: 'a', tier: 'origin', configFile: 'a.json', program: 'node', containerPorts: [8090, 9001],
      published: [
        { host: [8090, 8090], container: [8090, 8090], protocol: 'tcp' },
        { host: [40000, 40099], container: [40000, 40099], protocol: 'udp' },
        { host: [9000, 9000], container: [9001, 9001], protocol: 'tcp' },
      ],
      volumes: [], namedVolumes: [{ name: 'a-data', container: '/home/node' }], dependsOn: ['b'], restart: 'unless-stopped', stopGracePeriod: '25s', init: true,
    },
    {
      name: 'b', tier: null, configFile: null, program: null, containerPorts: [], published: [],
      volumes: [{ host: './configs/x.yml', container: '/etc/x.yml' }, { host: './configs/t', container: '/etc/t' }],
      namedVolumes: [{ name: 'b-data', container: '/data' }], dependsOn: [], restart: null, stopGracePeriod: null, init: false,
    },
  ]);
  t.same(composeVolumes(text), ['a-data', 'b-data']);
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
// docker-compose.yml: two origins on one Redis, the edge, and what each tier's config says.

const configPath = (file: string): string => fileURLToPath(new URL(`../configs/${file}`, import.meta.url));

interface TierService<C> {
  service: ComposeService;
  config: C;
}

/** The compose file's tiers with their configs, each loaded through its tier's schema (null if it fails: reported by the schema test). */
function composeTiers(services: ComposeService[]): { origins: Array<TierService<OriginConfig>>; edges: Array<TierService<EdgeConfig>> } {
  const origins: Array<TierService<OriginConfig>> = [];
  const edges: Array<TierService<EdgeConfig>> = [];
  for (const service of services) {
    if (!service.configFile || !service.tier) continue;
    try {
      const raw = readConfigFile(configPath(service.configFile));
      if (service.tier === 'origin') origins.push({ service, config: loadOriginConfig(raw) });
      else edges.push({ service, config: loadEdgeConfig(raw) });
    } catch {
      // the schema test names the problems
    }
  }
  return { origins, edges };
}

const portOf = (url: URL): number => Number(url.port || (url.protocol === 'https:' ? 443 : 80));

t.test('docker-compose: every tier runs with a config file that passes its schema', async (t) => {
  const services = composeServices(read('docker-compose.yml'));
  const tiers = services.filter((s) => s.tier);
  t.same(tiers.filter((s) => s.tier === 'origin').length, 2, 'two origins');
  t.same(tiers.filter((s) => s.tier === 'edge').length, 1, 'one edge');
  for (const service of tiers) {
    t.ok(service.configFile, `${service.name} runs bin/${service.tier}.ts with --config`);
    if (!service.configFile) continue;
    t.ok(existsSync(configPath(service.configFile)), `configs/${service.configFile} exists`);
    const load = service.tier === 'origin' ? loadOriginConfig : loadEdgeConfig;
    let problems: string[] = [];
    try {
      load(readConfigFile(configPath(service.configFile)));
    } catch (err) {
      problems = (err as ScopecastError).details?.['problems'] as string[] | undefined ?? [(err as Error).message];
    }
    t.same(problems, [], `configs/${service.configFile} passes the ${service.tier} schema`);
  }
});

t.test('docker-compose: the origins share one Redis and one set of keys, and advertise themselves', async (t) => {
  const services = composeServices(read('docker-compose.yml'));
  const { origins, edges } = composeTiers(services);
  t.equal(origins.length, 2, 'both origin configs load');

  const redis = services.find((s) => s.name === 'redis');
  t.ok(redis, 'compose runs redis');
  t.match(read('docker-compose.yml'), /^ {4}image:\s*redis:7-alpine\s*$/m, 'redis:7-alpine');
  t.match(read('docker-compose.yml'), /command:\s*\["redis-server",\s*"--appendonly",\s*"yes"\]/, 'append-only file on');
  t.ok(redis?.namedVolumes.some((v) => v.container === '/data'), 'its data in a named volume at /data');

  for (const { service, config } of origins) {
    t.ok(config.redisUrl, `${service.name}: redisUrl set`);
    if (!config.redisUrl) continue;
    const url = new URL(config.redisUrl);
    t.equal(url.hostname, 'redis', `${service.name}: redisUrl names the redis service`);
    t.equal(Number(url.port || 6379), 6379, `${service.name}: on the Redis port`);
    t.ok(service.dependsOn.includes('redis'), `${service.name} depends on redis`);
    // cluster.advertiseUrl is what the other origins pull from: this service, on its own port.
    const advertised = config.cluster.advertiseUrl ? new URL(config.cluster.advertiseUrl) : null;
    t.ok(advertised, `${service.name}: cluster.advertiseUrl set`);
    if (advertised) {
      t.equal(advertised.hostname, service.name, `${service.name}: advertiseUrl names its own service`);
      t.equal(portOf(advertised), config.http.port, `${service.name}: advertiseUrl on the port it listens on`);
      t.equal(advertised.protocol, config.tls.certFile ? 'https:' : 'http:', `${service.name}: advertiseUrl scheme matches its tls`);
      t.ok(service.containerPorts.includes(config.http.port), `${service.name}: container port ${config.http.port} is mapped`);
    }
    t.match(config.cluster.id, /^[a-z0-9][a-z0-9-]{0,31}$/, `${service.name}: cluster.id`);
    // WebRTC media ports: the config's range is the one compose publishes, host and container alike.
    if (config.webrtc.enabled) {
      const [first, last] = config.webrtc.portRange;
      t.ok(service.published.some((p) => p.protocol === 'udp' && p.container[0] === first && p.container[1] === last && p.host[0] === first && p.host[1] === last),
        `${service.name}: UDP ${first}-${last} published as is`);
    }
  }
  const [a, b] = origins;
  if (a && b) {
    t.equal(a.config.redisUrl, b.config.redisUrl, 'one Redis for both');
    t.not(a.config.cluster.id, b.config.cluster.id, 'distinct cluster ids');
    t.not(a.config.cluster.advertiseUrl, b.config.cluster.advertiseUrl, 'distinct advertised URLs');
    t.same([...a.config.ingest.keys].sort(), [...b.config.ingest.keys].sort(), 'same ingest keys (an edge may push to either)');
    t.same(a.config.auth.keys, b.config.auth.keys, 'same signing keys (a token works on either)');
    t.same([...a.config.auth.scrapeTokens].sort(), [...b.config.auth.scrapeTokens].sort(), 'same scrape tokens');
  }
  for (const { service, config } of edges) {
    const url = new URL(config.origin.url);
    const target = origins.find((o) => o.service.name === url.hostname);
    t.ok(target, `${service.name}: origin.url ${config.origin.url} names an origin service`);
    if (!target) continue;
    t.equal(portOf(url), target.config.http.port, `${service.name}: on the port ${target.service.name} listens on`);
    t.ok(origins.every((o) => o.config.ingest.keys.includes(config.origin.ingestKey)), `${service.name}: its ingestKey is accepted by every origin`);
    t.same(config.auth.keys, target.config.auth.keys, `${service.name}: verifies tokens with the origins' signing keys`);
    t.ok(service.dependsOn.includes(target.service.name), `${service.name} depends on ${target.service.name}`);
  }
});

t.test('docker-compose: no two services publish the same host port', async (t) => {
  const services = composeServices(read('docker-compose.yml'));
  const owner = new Map<string, string>();
  let ports = 0;
  for (const service of services) {
    for (const p of service.published) {
      t.equal(p.host[1] - p.host[0], p.container[1] - p.container[0], `${service.name}: ${p.host.join('-')} maps a range of the same size`);
      for (let port = p.host[0]; port <= p.host[1]; port++) {
        const key = `${port}/${p.protocol}`;
        const other = owner.get(key);
        if (other) t.fail(`host port ${key} published by ${other} and ${service.name}`);
        owner.set(key, service.name);
        ports++;
      }
    }
  }
  t.ok(ports > 300, `${ports} host ports, each published once`);
  for (const [name, port] of [['origin1', 8090], ['origin2', 8091]] as const) {
    t.equal(owner.get(`${port}/tcp`), name, `${name} on host port ${port}`);
  }
});

t.test('docker-compose: named volumes are declared, and hold each tier\'s recordings and audit trail', async (t) => {
  const text = read('docker-compose.yml');
  const services = composeServices(text);
  const declared = composeVolumes(text);
  const used = services.flatMap((s) => s.namedVolumes.map((v) => v.name));
  for (const name of used) t.ok(declared.includes(name), `volume ${name} is declared`);
  for (const name of declared) t.ok(used.includes(name), `declared volume ${name} is used`);
  t.equal(new Set(used).size, used.length, 'no volume mounted by two services');

  const { origins, edges } = composeTiers(services);
  const persisted = (service: ComposeService, path: string): string | undefined =>
    service.namedVolumes.find((v) => path === v.container || path.startsWith(`${v.container.replace(/\/$/, '')}/`))?.name;
  for (const { service, config } of origins) {
    t.ok(persisted(service, config.recordings.dir), `${service.name}: recordings.dir ${config.recordings.dir} is on a named volume`);
    t.ok(persisted(service, config.audit.file), `${service.name}: audit.file ${config.audit.file} is on a named volume`);
  }
  for (const { service, config } of edges) {
    const dir = config.recording.dir || `${config.workDir}/recordings`;
    const audit = config.audit.file || `${config.workDir}/audit.jsonl`;
    t.ok(persisted(service, dir), `${service.name}: its local recordings (${dir}) are on a named volume`);
    t.ok(persisted(service, audit), `${service.name}: its audit trail (${audit}) is on a named volume`);
  }
});

t.test('docker-compose: tiers restart unless stopped and get time to shut down in order', async (t) => {
  const services = composeServices(read('docker-compose.yml'));
  const seconds = (value: string | null): number => {
    const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(value ?? '');
    return m && value ? Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0) : 0;
  };
  for (const service of services) {
    t.equal(service.restart, 'unless-stopped', `${service.name}: restart unless-stopped`);
    if (!service.tier) continue;
    // bin/cli.ts gives up after 20 s; Docker's SIGKILL must come later than that.
    t.ok(seconds(service.stopGracePeriod) > 20, `${service.name}: stop_grace_period ${service.stopGracePeriod} is over the tiers' own 20 s`);
    // SIGTERM goes to the tier itself, not to an npm/npx wrapper that may not pass it on or wait.
    t.equal(service.program, 'node', `${service.name}: runs node directly`);
    t.ok(service.init, `${service.name}: init: true (signals forwarded, ffmpeg children reaped)`);
  }
});

t.test('docker compose config accepts the file', async (t) => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const works = async (cmd: string, args: string[]): Promise<boolean> =>
    run(cmd, args, { cwd: root, timeout: 60_000 }).then(() => true, () => false);
  const cli = (await works('docker', ['compose', 'version'])) ? ['docker', 'compose'] : (await works('docker-compose', ['version'])) ? ['docker-compose'] : null;
  if (!cli) {
    t.comment('docker compose (and docker-compose) is not installed here: `docker compose config -q` skipped; the schema checks above ran instead');
    return;
  }
  const [cmd, ...args] = cli as [string, ...string[]];
  const result = await run(cmd, [...args, '-f', 'docker-compose.yml', 'config', '-q'], { cwd: root, timeout: 60_000 }).then(
    () => '',
    (err: { stderr?: string; message: string }) => err.stderr || err.message,
  );
  t.equal(result, '', `${cli.join(' ')} config -q`);
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
