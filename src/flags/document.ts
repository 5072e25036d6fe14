/**
 * Feature flags in AppConfig's `AWS.AppConfig.FeatureFlags` format (schema version "1"), with two
 * attributes rollgate requires on every flag: `owner` (who removes it) and `expires` (a calendar
 * date, YYYY-MM-DD). A flag is debt from the day its release reaches 100 %; the expiry makes the
 * debt visible (`listExpiredFlags`, `rollgate flags`) and a deploy with an expired flag fails.
 *
 * Dates are UTC calendar days. A flag is valid through its `expires` day and expired from the next
 * day on; `daysOverdue` counts whole days past the `expires` day.
 */

export const OWNER_ATTRIBUTE = "owner";
export const EXPIRES_ATTRIBUTE = "expires";
/** Pattern AppConfig enforces on the `expires` value (calendar validity is checked here). */
export const EXPIRES_PATTERN = "^\\d{4}-\\d{2}-\\d{2}$";
/** Flag and attribute keys, as AppConfig's schema restricts them. */
export const FLAG_KEY_PATTERN = /^[a-z][a-zA-Z\d_-]{0,63}$/;
const MAX_ATTRIBUTES = 25;
const DAY_MS = 86_400_000;

export interface AttributeConstraints {
  type: "string" | "number" | "boolean" | "array";
  required?: boolean;
  pattern?: string;
  enum?: Array<string | number>;
  minimum?: number;
  maximum?: number;
}

export interface AttributeDefinition {
  description?: string;
  constraints?: AttributeConstraints;
}

export interface FlagDefinition {
  name?: string;
  description?: string;
  attributes?: Record<string, AttributeDefinition>;
  _deprecation?: { status?: "planned"; date?: string };
}

export type AttributeValue = string | number | boolean | string[] | number[];

/** A flag's value: `enabled` plus attribute values (and AppConfig's `_variants` for multi-variant flags). */
export type FlagValue = { enabled?: boolean } & Record<string, unknown>;

/** The hosted configuration content of a feature-flag profile. */
export interface FeatureFlagsDocument {
  version: "1";
  flags: Record<string, FlagDefinition>;
  values: Record<string, FlagValue>;
}

/** One flag as a user declares it; rendered into AppConfig's format by renderFlagsDocument. */
export interface FlagSpec {
  /** Flag key the application asks for (AppConfig: `^[a-z][a-zA-Z\d_-]{0,63}$`). */
  key: string;
  /** Display name; defaults to the key. */
  name?: string;
  description?: string;
  enabled: boolean;
  /** Team or person that removes the flag once the release is at 100 % and stable. */
  owner: string;
  /** Last day (UTC, YYYY-MM-DD) the flag may exist. */
  expires: string;
}

export interface FlagIssue {
  /** Path in the feature-flags document (`values.checkout.expires`) or in the flags list (`flags[0].owner`). */
  path: string;
  message: string;
}

export interface ExpiredFlag {
  name: string;
  owner: string;
  expires: string;
  /** Whole days past the expiry day: 1 on the day after `expires`. */
  daysOverdue: number;
}

/** `YYYY-MM-DD` as a real calendar day, in ms since the epoch at 00:00 UTC; undefined when malformed. */
export function parseExpiry(text: unknown): number | undefined {
  if (typeof text !== "string") return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  // Date.UTC rolls 2026-02-30 over to March; a round trip catches impossible days.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return t;
}

/** Whole days from the expiry day to now (negative or 0 while the flag is still valid). */
export function daysOverdue(expiresMs: number, now: Date): number {
  return Math.floor((now.getTime() - expiresMs) / DAY_MS);
}

const ownerDefinition = (): AttributeDefinition => ({
  description: "Team that removes this flag once its release is at 100 % and stable",
  constraints: { type: "string", required: true },
});
const expiresDefinition = (): AttributeDefinition => ({
  description: "Last day (UTC, YYYY-MM-DD) this flag may exist",
  constraints: { type: "string", pattern: EXPIRES_PATTERN, required: true },
});

/** The AppConfig feature-flags document for a list of flags, with the owner and expires attributes. */
export function renderFlagsDocument(flags: FlagSpec[]): FeatureFlagsDocument {
  const doc: FeatureFlagsDocument = { version: "1", flags: {}, values: {} };
  for (const f of flags) {
    doc.flags[f.key] = {
      name: f.name ?? f.key,
      ...(f.description !== undefined ? { description: f.description } : {}),
      attributes: { [OWNER_ATTRIBUTE]: ownerDefinition(), [EXPIRES_ATTRIBUTE]: expiresDefinition() },
    };
    doc.values[f.key] = { enabled: f.enabled, [OWNER_ATTRIBUTE]: f.owner, [EXPIRES_ATTRIBUTE]: f.expires };
  }
  return doc;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function expiryIssues(path: string, value: unknown, now: Date): FlagIssue[] {
  const t = parseExpiry(value);
  if (t === undefined) {
    return [{ path, message: `must be a calendar date YYYY-MM-DD (UTC), got ${JSON.stringify(value)}` }];
  }
  const overdue = daysOverdue(t, now);
  if (overdue > 0) {
    return [
      {
        path,
        message: `expired on ${String(value)} (${overdue} day${overdue === 1 ? "" : "s"} ago): remove the flag and its dead code path, or, if its owner still needs it, move expires forward`,
      },
    ];
  }
  return [];
}

/** Checks a flags list as the component takes it; paths are `flags[i].field`. */
export function checkFlagSpecs(flags: unknown, now: Date): FlagIssue[] {
  if (!Array.isArray(flags) || flags.length === 0) return [{ path: "flags", message: "must list at least one flag { key, enabled, owner, expires }" }];
  const issues: FlagIssue[] = [];
  const seen = new Map<string, number>();
  flags.forEach((f: unknown, i) => {
    const path = `flags[${i}]`;
    if (!isObject(f)) {
      issues.push({ path, message: "must be a flag { key, enabled, owner, expires }" });
      return;
    }
    if (typeof f.key !== "string" || !FLAG_KEY_PATTERN.test(f.key)) {
      issues.push({ path: `${path}.key`, message: `must start with a lowercase letter, then letters, digits, "_" or "-" (up to 64), got ${JSON.stringify(f.key)}` });
    } else if (seen.has(f.key)) {
      issues.push({ path: `${path}.key`, message: `duplicate flag key "${f.key}" (also flags[${seen.get(f.key)}])` });
    } else seen.set(f.key, i);
    if (typeof f.enabled !== "boolean") issues.push({ path: `${path}.enabled`, message: "must be true or false" });
    if (typeof f.owner !== "string" || f.owner.trim() === "") {
      issues.push({ path: `${path}.owner`, message: "is required: the team that removes the flag once its release is at 100 % and stable" });
    }
    if (f.expires === undefined) issues.push({ path: `${path}.expires`, message: "is required: the last day (YYYY-MM-DD) the flag may exist" });
    else issues.push(...expiryIssues(`${path}.expires`, f.expires, now));
  });
  return issues;
}

/**
 * Checks an AppConfig feature-flags document: the schema parts rollgate relies on, plus an owner
 * and an unexpired, well-formed expiry on every flag. Paths follow the document
 * (`flags.checkout.attributes.owner`, `values.checkout.expires`).
 */
export function checkFlagsDocument(doc: unknown, now: Date): FlagIssue[] {
  if (!isObject(doc)) return [{ path: "", message: 'must be an AppConfig feature-flags document { version: "1", flags, values }' }];
  const issues: FlagIssue[] = [];
  if (doc.version !== "1") issues.push({ path: "version", message: `must be "1" (the only AWS.AppConfig.FeatureFlags schema version), got ${JSON.stringify(doc.version)}` });
  const flags = isObject(doc.flags) ? doc.flags : undefined;
  const values = isObject(doc.values) ? doc.values : {};
  if (!flags || Object.keys(flags).length === 0) {
    issues.push({ path: "flags", message: "must define at least one flag" });
    return issues;
  }
  if (doc.values !== undefined && !isObject(doc.values)) issues.push({ path: "values", message: "must be a map of flag key to value" });
  for (const key of Object.keys(doc)) {
    if (!["version", "flags", "values"].includes(key)) issues.push({ path: key, message: "unknown field (AppConfig accepts version, flags and values); remove it" });
  }
  for (const [key, raw] of Object.entries(flags)) {
    const path = `flags.${key}`;
    if (!FLAG_KEY_PATTERN.test(key)) {
      issues.push({ path, message: 'flag keys must start with a lowercase letter, then letters, digits, "_" or "-" (up to 64)' });
    }
    if (!isObject(raw)) {
      issues.push({ path, message: "must be a flag definition { name, attributes }" });
      continue;
    }
    const attributes = isObject(raw.attributes) ? raw.attributes : {};
    if (Object.keys(attributes).length > MAX_ATTRIBUTES) {
      issues.push({ path: `${path}.attributes`, message: `AppConfig allows at most ${MAX_ATTRIBUTES} attributes per flag` });
    }
    const owner = attributes[OWNER_ATTRIBUTE];
    if (!isObject(owner) || !isObject(owner.constraints) || owner.constraints.type !== "string" || owner.constraints.required !== true) {
      issues.push({
        path: `${path}.attributes.${OWNER_ATTRIBUTE}`,
        message: 'must be defined as { constraints: { type: "string", required: true } } so AppConfig refuses a value without an owner',
      });
    }
    const expires = attributes[EXPIRES_ATTRIBUTE];
    if (!isObject(expires) || !isObject(expires.constraints) || expires.constraints.type !== "string" || expires.constraints.required !== true) {
      issues.push({
        path: `${path}.attributes.${EXPIRES_ATTRIBUTE}`,
        message: `must be defined as { constraints: { type: "string", pattern: "${EXPIRES_PATTERN}", required: true } } so every flag has an end date`,
      });
    }
    const value = values[key];
    const vpath = `values.${key}`;
    if (!isObject(value)) {
      issues.push({ path: vpath, message: `is required: { enabled, ${OWNER_ATTRIBUTE}, ${EXPIRES_ATTRIBUTE} }` });
      continue;
    }
    if (value.enabled !== undefined && typeof value.enabled !== "boolean") issues.push({ path: `${vpath}.enabled`, message: "must be true or false" });
    const ownerValue = value[OWNER_ATTRIBUTE];
    if (typeof ownerValue !== "string" || ownerValue.trim() === "") {
      issues.push({ path: `${vpath}.${OWNER_ATTRIBUTE}`, message: "is required: the team that removes the flag once its release is at 100 % and stable" });
    }
    if (value[EXPIRES_ATTRIBUTE] === undefined) {
      issues.push({ path: `${vpath}.${EXPIRES_ATTRIBUTE}`, message: "is required: the last day (YYYY-MM-DD) the flag may exist" });
    } else issues.push(...expiryIssues(`${vpath}.${EXPIRES_ATTRIBUTE}`, value[EXPIRES_ATTRIBUTE], now));
  }
  for (const key of Object.keys(values)) {
    if (!(key in flags)) issues.push({ path: `values.${key}`, message: `has no definition under flags; define flags.${key} or remove this value` });
  }
  return issues;
}

/**
 * The flags past their expiry day, most overdue first, for `rollgate flags` / `rollgate validate`
 * to list for removal. Tolerant by design: it reads whatever document is deployed, so flags with
 * a missing or malformed expiry are skipped here (checkFlagsDocument reports them). Takes the
 * document as an object or as its JSON text (throws SyntaxError on malformed JSON).
 */
export function listExpiredFlags(flagsDocument: unknown, now: Date): ExpiredFlag[] {
  // The CLI reads the document as AppConfig returns it (JSON text); a parse error is the caller's to report.
  if (typeof flagsDocument === "string") flagsDocument = JSON.parse(flagsDocument) as unknown;
  if (!isObject(flagsDocument)) return [];
  const flags = isObject(flagsDocument.flags) ? flagsDocument.flags : {};
  const values = isObject(flagsDocument.values) ? flagsDocument.values : {};
  const out: ExpiredFlag[] = [];
  for (const name of Object.keys(flags)) {
    const value = values[name];
    if (!isObject(value)) continue;
    const expires = value[EXPIRES_ATTRIBUTE];
    const t = parseExpiry(expires);
    if (t === undefined) continue;
    const overdue = daysOverdue(t, now);
    if (overdue <= 0) continue;
    const owner = value[OWNER_ATTRIBUTE];
    out.push({ name, owner: typeof owner === "string" && owner.trim() !== "" ? owner : "(no owner)", expires: expires as string, daysOverdue: overdue });
  }
  return out.sort((a, b) => b.daysOverdue - a.daysOverdue || a.name.localeCompare(b.name));
}
