/**
 * The one error catalogue. Every error Hotline raises on purpose has a stable code
 * (like fastify's FST_ERR_*), so clients, logs and tests match on codes, never on messages.
 *
 * Errors are branded with a registry symbol rather than relying on prototype identity:
 * release code is loaded more than once (each version is its own bundle), and an error
 * thrown by one copy must still satisfy `instanceof` checks written against another
 * (the brand trick undici uses).
 *
 * The catalogue knows no protocol: each code says whose fault it is, and each surface maps
 * codes to its own answers (server/http/errors.ts to HTTP statuses). Every code is
 * documented in server/errors/README.md; test/errors/catalogue.test.ts keeps the two equal.
 */
const BRAND = Symbol.for('hotline.error');

/**
 * Whose fault an error is: the caller's (a bad request, a wrong state, a name taken: asking
 * again differently can succeed) or the node's (it failed, timed out or is out of room).
 */
export type Fault = 'caller' | 'node';

type Entry = { fault: Fault; message: (...args: never[]) => string };

/** The errors a phone gets as error frames on its WebSocket. */
const phoneProtocol = {
  HOT_ERR_INVALID_JSON: { fault: 'caller', message: () => 'the frame is not valid JSON' },
  HOT_ERR_BINARY_FRAME: {
    fault: 'caller',
    message: () => 'binary frames are not part of the protocol; send JSON text',
  },
  HOT_ERR_UNKNOWN_TYPE: {
    fault: 'caller',
    message: (type: string) => `unknown message type ${JSON.stringify(type)}`,
  },
  HOT_ERR_SCHEMA: {
    fault: 'caller',
    message: (path: string, why: string) =>
      `the message does not match its schema${path ? ` at ${path}` : ''}: ${why}`,
  },
  HOT_ERR_UNSUPPORTED_TYPE: {
    fault: 'caller',
    message: (type: string, release: string) =>
      `${type} is not supported by this session's release ${release}`,
  },
  HOT_ERR_WRONG_STATE: {
    fault: 'caller',
    message: (type: string, state: string) => `${type} is not allowed while ${state}`,
  },
  HOT_ERR_NOT_REGISTERED: { fault: 'caller', message: (type: string) => `register before sending ${type}` },
  HOT_ERR_USER_TAKEN: { fault: 'caller', message: (user: string) => `user ${user} is registered already` },
  HOT_ERR_UNKNOWN_CALLEE: { fault: 'caller', message: (user: string) => `nobody is registered as ${user}` },
  HOT_ERR_UNKNOWN_CALL: { fault: 'caller', message: (callId: string) => `no call ${callId} on this session` },
  HOT_ERR_RATE_LIMITED: {
    fault: 'caller',
    message: (limit: number) => `more than ${limit} messages per second; closing the connection`,
  },
  HOT_ERR_CALL_ATTEMPTS: {
    fault: 'caller',
    message: (limit: number, seconds: number) =>
      `more than ${limit} call attempts in ${seconds} s by this user`,
  },
  // registration: the phone token in `register` (server/http/phone-auth.ts)
  HOT_ERR_PHONE_TOKEN_MISSING: {
    fault: 'caller',
    message: () => 'register needs a phone token (field token)',
  },
  HOT_ERR_PHONE_TOKEN_MALFORMED: {
    fault: 'caller',
    message: () => 'the phone token is not a well-formed JWT',
  },
  HOT_ERR_PHONE_TOKEN_EXPIRED: {
    fault: 'caller',
    message: () => 'the phone token has expired; get a fresh one',
  },
  HOT_ERR_PHONE_TOKEN_NOT_YET_VALID: { fault: 'caller', message: () => 'the phone token is not valid yet' },
  HOT_ERR_PHONE_TOKEN_REJECTED: {
    fault: 'caller',
    message: () => 'the phone token is not from a trusted key and issuer of this node',
  },
  HOT_ERR_PHONE_USER_NOT_ALLOWED: {
    fault: 'caller',
    message: () => "the phone token's user may not register on this node",
  },
  HOT_ERR_PHONE_USER_MISMATCH: {
    fault: 'caller',
    message: () => 'register names another user than its phone token',
  },
  HOT_ERR_PHONE_AUTH_THROTTLED: {
    fault: 'caller',
    message: (limit: number, seconds: number) =>
      `more than ${limit} failed registrations from this address in ${seconds} s; closing the connection`,
  },
  HOT_ERR_REGISTRATION_REPLACED: {
    fault: 'caller',
    message: () => 'another connection registered as this user with a valid token; closing this one',
  },
  HOT_ERR_REGISTRATION_NOT_RELEASED: {
    fault: 'node',
    message: (node: string, why: string) =>
      `the user is held on node ${node}, which did not let it go: ${why}`,
  },
} as const satisfies Record<string, Entry>;

const catalogue = {
  // runtime: processes and messaging
  HOT_ERR_NOPROC: { fault: 'caller', message: (target: string) => `no process ${target}` },
  HOT_ERR_CALL_TIMEOUT: {
    fault: 'node',
    message: (target: string, ms: number) => `call to ${target} timed out after ${ms} ms`,
  },
  HOT_ERR_CALL_TARGET_EXITED: {
    fault: 'node',
    message: (target: string, reason: string) => `${target} exited (${reason}) before replying`,
  },
  HOT_ERR_NODE_UNREACHABLE: {
    fault: 'node',
    message: (node: string) => `node ${node} is not reachable from this node`,
  },
  HOT_ERR_UNKNOWN_MODULE: { fault: 'caller', message: (name: string) => `no behaviour module named ${name}` },
  HOT_ERR_INIT_FAILED: { fault: 'node', message: (module: string) => `init of ${module} failed` },
  HOT_ERR_BAD_RETURN: {
    fault: 'node',
    message: (callback: string, got: string) => `${callback} returned ${got}, not a result`,
  },
  HOT_ERR_UNHANDLED_CALL: {
    fault: 'node',
    message: (module: string) => `${module} has no handleCall`,
  },
  HOT_ERR_STATE_NOT_CLONEABLE: {
    fault: 'node',
    message: (where: string) => `state after ${where} does not survive structuredClone`,
  },
  HOT_ERR_INVALID_NAME: {
    fault: 'caller',
    message: (name: string) => `${JSON.stringify(name)} cannot be a process name (empty, or starts with '<')`,
  },
  HOT_ERR_CALLING_SELF: {
    fault: 'caller',
    message: (pid: string) => `${pid} called itself: it would wait forever`,
  },
  HOT_ERR_UNKNOWN_REQUEST: { fault: 'caller', message: (type: string) => `unknown request type ${type}` },
  HOT_ERR_NAME_TAKEN: { fault: 'caller', message: (name: string) => `name ${name} is already registered` },
  HOT_ERR_ALREADY_REGISTERED: {
    fault: 'caller',
    message: (pid: string, name: string) => `${pid} is already registered as ${name}`,
  },
  // runtime: system messages (sys)
  HOT_ERR_SUSPEND_TIMEOUT: {
    fault: 'node',
    message: (pid: string, ms: number) => `${pid} did not reach a message boundary within ${ms} ms`,
  },
  HOT_ERR_NOT_SUSPENDED: { fault: 'caller', message: (pid: string) => `${pid} must be suspended first` },
  HOT_ERR_PROCESS_BUSY: {
    fault: 'caller',
    message: (pid: string) => `${pid} is inside a callback; suspend it first`,
  },
  HOT_ERR_CODE_CHANGE_FAILED: {
    fault: 'node',
    message: (pid: string, from: string, to: string) => `codeChange of ${pid} from ${from} to ${to} failed`,
  },
  HOT_ERR_REPLACE_STATE_FAILED: { fault: 'node', message: (pid: string) => `replaceState of ${pid} failed` },
  // runtime: moving processes to another runtime (move)
  HOT_ERR_HANDOVER_FAILED: { fault: 'node', message: (pid: string) => `handOver of ${pid} failed` },
  HOT_ERR_MOVE_NOT_HELD: {
    fault: 'caller',
    message: (pid: string) => `${pid} is not held by a move (captured here, or restored and not started)`,
  },
  HOT_ERR_MOVE_CODE_MISSING: {
    fault: 'node',
    message: (pid: string, module: string, version: string) =>
      `cannot restore ${pid}: ${module} ${version} is not loaded here`,
  },
  HOT_ERR_MOVE_PID_TAKEN: {
    fault: 'caller',
    message: (pid: string) => `cannot restore ${pid}: that pid is in use here`,
  },
  // runtime: supervisors
  HOT_ERR_INVALID_CHILD_SPEC: { fault: 'caller', message: (why: string) => `invalid child spec: ${why}` },
  HOT_ERR_CHILD_EXISTS: { fault: 'caller', message: (id: string) => `child ${id} already exists` },
  HOT_ERR_NO_CHILD: { fault: 'caller', message: (id: string) => `no child ${id}` },
  HOT_ERR_MAX_CHILDREN: { fault: 'node', message: (max: number) => `supervisor is full (${max} children)` },
  // releases: artifacts, loading, installs
  HOT_ERR_BAD_VERSION: {
    fault: 'caller',
    message: (version: string) => `${JSON.stringify(version)} is not a release version (x.y.z[-tag])`,
  },
  HOT_ERR_RELEASE_MALFORMED: {
    fault: 'caller',
    message: (why: string) => `malformed release artifact: ${why}`,
  },
  HOT_ERR_RELEASE_TAMPERED: {
    fault: 'caller',
    message: (version: string) => `release ${version}: its code does not match the signed sha256`,
  },
  HOT_ERR_RELEASE_UNTRUSTED: {
    fault: 'caller',
    message: (version: string) => `release ${version}: no trusted key verifies its signature`,
  },
  HOT_ERR_RELEASE_LOAD_FAILED: {
    fault: 'caller',
    message: (version: string, why: string) => `release ${version} failed to load: ${why}`,
  },
  HOT_ERR_RELEASE_API: {
    fault: 'caller',
    message: (version: string, wanted: number, have: number) =>
      `release ${version} needs runtime API ${wanted}; this node has ${have}`,
  },
  HOT_ERR_RELEASE_UNSAFE: {
    fault: 'caller',
    message: (version: string, why: string) =>
      `release ${version} is refused: its code ${why} when loaded in a worker; the node never ran it`,
  },
  HOT_ERR_UNKNOWN_RELEASE: { fault: 'caller', message: (version: string) => `no release ${version} here` },
  HOT_ERR_NO_UPGRADE_PATH: {
    fault: 'caller',
    message: (from: string, to: string) => `release ${to} declares no way from ${from}`,
  },
  HOT_ERR_INSTALL_RUNNING: {
    fault: 'caller',
    message: (id: string) => `install ${id} is running; wait for it or roll it back`,
  },
  HOT_ERR_NO_INSTALL: { fault: 'caller', message: (what: string) => `no install to ${what}` },
  HOT_ERR_RELEASES_HELD: {
    fault: 'caller',
    message: (why: string) => `releases cannot change while ${why}; try again once it ends`,
  },
  HOT_ERR_PREFLIGHT_FAILED: {
    fault: 'caller',
    message: (version: string, failures: number) =>
      `preflight of ${version} failed for ${failures} process(es); nothing was changed`,
  },
  HOT_ERR_RELEASE_INCOMPATIBLE: {
    fault: 'caller',
    message: (version: string, others: string) =>
      `release ${version} does not interoperate with ${others}: neither declares the other in its appup`,
  },
  HOT_ERR_RELEASE_IN_USE: {
    fault: 'caller',
    message: (version: string, why: string) => `release ${version} cannot be removed: ${why}`,
  },
  HOT_ERR_RELEASE_MARKED: {
    fault: 'caller',
    message: (version: string, why: string) =>
      `release ${version} is marked (${why}); install it again only with force`,
  },
  HOT_ERR_HISTORY_WRITE: {
    fault: 'node',
    message: (why: string) =>
      `the release history could not be written to disk (${why}): the change is made, but history.json shows it only once a later write succeeds`,
  },
  ...phoneProtocol,
  // HTTP and admin surface
  HOT_ERR_BAD_REQUEST: { fault: 'caller', message: (why: string) => why },
  HOT_ERR_INTERNAL: { fault: 'node', message: (why: string) => why },
  HOT_ERR_UNAUTHORIZED: { fault: 'caller', message: () => 'a valid bearer token is required' },
  HOT_ERR_WRONG_ADMIN_TOKEN: { fault: 'caller', message: () => 'that is not the admin token' },
  HOT_ERR_OBSERVER_HEADER: {
    fault: 'caller',
    message: (header: string) => `a change made with the observer's session cookie must send ${header}: 1`,
  },
  HOT_ERR_SCOPE_REQUIRED: {
    fault: 'caller',
    message: (name: string, scope: string, needed: string) =>
      `admin token ${name} has scope ${scope}; this route needs ${needed}`,
  },
  HOT_ERR_ADMIN_TOKEN_EXISTS: {
    fault: 'caller',
    message: (name: string) => `an admin token named ${name} exists already; revoke it first`,
  },
  HOT_ERR_DEFAULT_ADMIN_TOKEN: {
    fault: 'caller',
    message: () =>
      'the default admin token comes from HOTLINE_ADMIN_TOKEN or <data-dir>/admin-token; change it there',
  },
  HOT_ERR_ORIGIN_NOT_ALLOWED: {
    fault: 'caller',
    message: (origin: string) => `origin ${origin} is not allowed to open phone connections on this node`,
  },
  HOT_ERR_NOT_FOUND: { fault: 'caller', message: (what: string) => `${what} not found` },
  HOT_ERR_UPGRADE_REQUIRED: { fault: 'caller', message: (path: string) => `${path} is a WebSocket endpoint` },
  HOT_ERR_NODE_FULL: {
    fault: 'node',
    message: (max: number) => `the node holds its maximum of ${max} sessions`,
  },
  HOT_ERR_SHUTTING_DOWN: { fault: 'node', message: () => 'the node is shutting down' },
  HOT_ERR_BAD_CONFIG: { fault: 'node', message: (why: string) => `bad configuration: ${why}` },
  // CDR queries
  HOT_ERR_BAD_CURSOR: {
    fault: 'caller',
    message: (why: string) => `the cursor is not one this query gave: ${why}`,
  },
  HOT_ERR_BAD_TIME_RANGE: {
    fault: 'caller',
    message: (from: number, to: number) => `the time range ends (${to}) before it starts (${from})`,
  },
  // cluster
  HOT_ERR_NATS_UNAVAILABLE: { fault: 'node', message: (why: string) => `NATS is not available: ${why}` },
  HOT_ERR_NODE_NAME_TAKEN: {
    fault: 'caller',
    message: (node: string) => `a live node of the cluster is named ${node} already`,
  },
  // cluster: rolling upgrades
  HOT_ERR_ROLLOUT_PREFLIGHT_FAILED: {
    fault: 'caller',
    message: (version: string, nodes: string) =>
      `preflight of ${version} failed on ${nodes}; no node was changed`,
  },
  HOT_ERR_ROLLOUT_GATE_FAILED: {
    fault: 'caller',
    message: (node: string, why: string) => `the health gate failed on ${node}: ${why}`,
  },
  HOT_ERR_ROLLOUT_STATE: { fault: 'caller', message: (why: string) => `rollout state: ${why}` },
  // node handoff (server/handoff)
  HOT_ERR_HANDOFF_RUNNING: {
    fault: 'caller',
    message: (to: number) => `a handoff to successor ${to} is running; wait for it to end`,
  },
  HOT_ERR_HANDOFF_INCOMPATIBLE: {
    fault: 'caller',
    message: (why: string) => `the successor is refused before anything moved: ${why}`,
  },
  HOT_ERR_HANDOFF_FAILED: {
    fault: 'node',
    message: (why: string) => `the handoff failed and this node carries on with everything it had: ${why}`,
  },
  HOT_ERR_HANDOFF_TLS_RECONNECT: {
    fault: 'node',
    message: () => 'the node is moving to a new process and a TLS connection cannot move with it; reconnect',
  },
  // TLS (server/http/tls.ts)
  HOT_ERR_TLS_CERTIFICATE_INVALID: {
    fault: 'caller',
    message: (cert: string, key: string, why: string) =>
      `the TLS certificate ${cert} with key ${key} cannot be used: ${why}`,
  },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof catalogue;
type ArgsOf<C extends ErrorCode> = Parameters<(typeof catalogue)[C]['message']>;

export class HotlineError<C extends ErrorCode = ErrorCode> extends Error {
  declare readonly [BRAND]: true;
  readonly code: C;
  readonly fault: Fault;

  constructor(code: C, args: ArgsOf<C>, options?: { cause?: unknown }) {
    const entry = catalogue[code];
    super((entry.message as (...a: ArgsOf<C>) => string)(...args), options);
    Object.defineProperty(this, BRAND, { value: true });
    this.name = 'HotlineError';
    this.code = code;
    this.fault = entry.fault;
  }

  /**
   * @deprecated Read `fault`. Kept for release code built when the catalogue gave HTTP
   * statuses, which reads `statusCode >= 500` as "the node's fault": a release's bundle
   * never changes once shipped, and this module is the host's, shared by every release.
   * The status a surface answers with is its own (server/http/errors.ts).
   */
  get statusCode(): number {
    return this.fault === 'node' ? 500 : 400;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** `instanceof` plus a code check that narrows the type. */
  static is<C extends ErrorCode>(value: unknown, code?: C): value is HotlineError<C> {
    return value instanceof HotlineError && (code === undefined || value.code === code);
  }
}

/** Shorthand used at throw sites: `throw hotlineError('HOT_ERR_NOPROC', pid)`. */
export function hotlineError<C extends ErrorCode>(code: C, ...args: ArgsOf<C>): HotlineError<C> {
  return new HotlineError(code, args);
}

export function hotlineErrorWithCause<C extends ErrorCode>(
  cause: unknown,
  code: C,
  ...args: ArgsOf<C>
): HotlineError<C> {
  return new HotlineError(code, args, { cause });
}

/** An error that crossed from another node: a HotlineError again when the catalogue knows its code. */
export function errorFromNode(code: string | undefined, message: string): Error {
  if (code === undefined || !Object.hasOwn(catalogue, code)) return new Error(message);
  // The arguments that made the message stayed on the other node: keep its text as it was.
  const err = new HotlineError(code as ErrorCode, [] as never);
  err.message = message;
  return err;
}

export const errorCodes = Object.keys(catalogue) as ErrorCode[];

/** What to print of anything thrown: its message, or the value itself. */
export const errorText = (err: unknown): string => String((err as Error)?.message ?? err);
export const phoneProtocolErrorCodes = Object.keys(phoneProtocol) as (keyof typeof phoneProtocol)[];
