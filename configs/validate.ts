import { Ajv, type ErrorObject, type JSONSchemaType } from 'ajv';
import { ScopecastError } from '../lib/errors.js';

/** Ajv instance per schema compile: no module-global validator state. */
function newAjv(): Ajv {
  return new Ajv({ allErrors: true, useDefaults: true, strict: true, coerceTypes: false });
}

export interface ConfigLoader<T> {
  /** Validate, fill defaults, run cross-field rules, freeze. Throws SC_ERR_CONFIG_INVALID listing every problem. */
  (input: unknown): Readonly<T>;
}

/**
 * Build a loader for one tier's config. The input is deep-copied, so the caller's object is
 * never mutated by default-filling.
 */
export function configLoader<T>(
  tier: string,
  schema: JSONSchemaType<T>,
  crossFieldRules: (config: T) => string[] = () => [],
): ConfigLoader<T> {
  const validate = newAjv().compile(schema);
  return (input: unknown) => {
    const copy: unknown = input === undefined ? {} : structuredClone(input);
    if (!validate(copy)) {
      throw invalid(tier, (validate.errors ?? []).filter(isCause).map(describe));
    }
    const problems = crossFieldRules(copy);
    if (problems.length > 0) throw invalid(tier, problems);
    return deepFreeze(copy);
  };
}

// An if/then/else schema reports the failing branch's own errors and then "must match "else"
// schema" for the same path: the branch's errors say it all.
function isCause(error: ErrorObject): boolean {
  return error.keyword !== 'if';
}

function describe(error: ErrorObject): string {
  const where = error.instancePath === '' ? '(root)' : error.instancePath;
  if (error.keyword === 'additionalProperties') {
    return `${where}: unknown key "${String(error.params['additionalProperty'])}"`;
  }
  if (error.keyword === 'enum') {
    return `${where}: must be one of ${JSON.stringify(error.params['allowedValues'])}`;
  }
  return `${where}: ${error.message ?? error.keyword}`;
}

/** The one SC_ERR_CONFIG_INVALID shape: every problem of one tier's config, listed. */
export function invalid(tier: string, problems: string[]): ScopecastError {
  return new ScopecastError(
    'SC_ERR_CONFIG_INVALID',
    `${tier} config has ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`,
    { tier, problems },
  );
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Schema of a listener's { host, port }: loopback by default, port 0 = pick one. */
export const hostPortSchema = (port: number) =>
  ({
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      host: { type: 'string', default: '127.0.0.1', minLength: 1 },
      port: { type: 'integer', default: port, minimum: 0, maximum: 65535 },
    },
    required: ['host', 'port'],
  }) as const;
