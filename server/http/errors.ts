/** One error shape for every HTTP answer: `{ code, message }`, with the status this front door gives each code. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { type ErrorCode, HotlineError } from '../errors/catalogue.ts';

/**
 * The HTTP status each catalogue code answers with when it reaches an HTTP surface (an admin
 * route, a refused WebSocket upgrade): node faults are 5xx, the caller's 4xx.
 */
export const httpStatus: { readonly [C in ErrorCode]: number } = {
  HOT_ERR_INVALID_JSON: 400,
  HOT_ERR_BINARY_FRAME: 400,
  HOT_ERR_UNKNOWN_TYPE: 400,
  HOT_ERR_SCHEMA: 400,
  HOT_ERR_UNSUPPORTED_TYPE: 400,
  HOT_ERR_WRONG_STATE: 409,
  HOT_ERR_NOT_REGISTERED: 409,
  HOT_ERR_USER_TAKEN: 409,
  HOT_ERR_UNKNOWN_CALLEE: 404,
  HOT_ERR_UNKNOWN_CALL: 404,
  HOT_ERR_RATE_LIMITED: 429,
  HOT_ERR_CALL_ATTEMPTS: 429,
  HOT_ERR_PHONE_TOKEN_MISSING: 401,
  HOT_ERR_PHONE_TOKEN_MALFORMED: 401,
  HOT_ERR_PHONE_TOKEN_EXPIRED: 401,
  HOT_ERR_PHONE_TOKEN_NOT_YET_VALID: 401,
  HOT_ERR_PHONE_TOKEN_REJECTED: 401,
  HOT_ERR_PHONE_USER_NOT_ALLOWED: 403,
  HOT_ERR_PHONE_USER_MISMATCH: 403,
  HOT_ERR_PHONE_AUTH_THROTTLED: 429,
  HOT_ERR_REGISTRATION_REPLACED: 409,
  HOT_ERR_NOPROC: 404,
  HOT_ERR_CALL_TIMEOUT: 504,
  HOT_ERR_CALL_TARGET_EXITED: 502,
  HOT_ERR_NODE_UNREACHABLE: 503,
  HOT_ERR_UNKNOWN_MODULE: 404,
  HOT_ERR_INIT_FAILED: 500,
  HOT_ERR_BAD_RETURN: 500,
  HOT_ERR_UNHANDLED_CALL: 501,
  HOT_ERR_STATE_NOT_CLONEABLE: 500,
  HOT_ERR_INVALID_NAME: 400,
  HOT_ERR_CALLING_SELF: 400,
  HOT_ERR_UNKNOWN_REQUEST: 400,
  HOT_ERR_NAME_TAKEN: 409,
  HOT_ERR_ALREADY_REGISTERED: 409,
  HOT_ERR_SUSPEND_TIMEOUT: 504,
  HOT_ERR_NOT_SUSPENDED: 409,
  HOT_ERR_PROCESS_BUSY: 409,
  HOT_ERR_CODE_CHANGE_FAILED: 500,
  HOT_ERR_REPLACE_STATE_FAILED: 500,
  HOT_ERR_HANDOVER_FAILED: 500,
  HOT_ERR_MOVE_NOT_HELD: 409,
  HOT_ERR_MOVE_CODE_MISSING: 500,
  HOT_ERR_MOVE_PID_TAKEN: 409,
  HOT_ERR_INVALID_CHILD_SPEC: 400,
  HOT_ERR_CHILD_EXISTS: 409,
  HOT_ERR_NO_CHILD: 404,
  HOT_ERR_MAX_CHILDREN: 503,
  HOT_ERR_BAD_VERSION: 400,
  HOT_ERR_RELEASE_MALFORMED: 400,
  HOT_ERR_RELEASE_TAMPERED: 422,
  HOT_ERR_RELEASE_UNTRUSTED: 422,
  HOT_ERR_RELEASE_LOAD_FAILED: 422,
  HOT_ERR_RELEASE_API: 422,
  HOT_ERR_RELEASE_UNSAFE: 422,
  HOT_ERR_UNKNOWN_RELEASE: 404,
  HOT_ERR_NO_UPGRADE_PATH: 422,
  HOT_ERR_INSTALL_RUNNING: 409,
  HOT_ERR_NO_INSTALL: 409,
  HOT_ERR_RELEASES_HELD: 409,
  HOT_ERR_PREFLIGHT_FAILED: 422,
  HOT_ERR_RELEASE_INCOMPATIBLE: 409,
  HOT_ERR_RELEASE_IN_USE: 409,
  HOT_ERR_RELEASE_MARKED: 409,
  HOT_ERR_HISTORY_WRITE: 500,
  HOT_ERR_BAD_REQUEST: 400,
  HOT_ERR_INTERNAL: 500,
  HOT_ERR_UNAUTHORIZED: 401,
  HOT_ERR_WRONG_ADMIN_TOKEN: 401,
  HOT_ERR_OBSERVER_HEADER: 403,
  HOT_ERR_SCOPE_REQUIRED: 403,
  HOT_ERR_ADMIN_TOKEN_EXISTS: 409,
  HOT_ERR_DEFAULT_ADMIN_TOKEN: 409,
  HOT_ERR_ORIGIN_NOT_ALLOWED: 403,
  HOT_ERR_NOT_FOUND: 404,
  HOT_ERR_UPGRADE_REQUIRED: 426,
  HOT_ERR_NODE_FULL: 503,
  HOT_ERR_SHUTTING_DOWN: 503,
  HOT_ERR_BAD_CONFIG: 500,
  HOT_ERR_BAD_CURSOR: 400,
  HOT_ERR_BAD_TIME_RANGE: 400,
  HOT_ERR_NATS_UNAVAILABLE: 503,
  HOT_ERR_NODE_NAME_TAKEN: 409,
  HOT_ERR_ROLLOUT_PREFLIGHT_FAILED: 422,
  HOT_ERR_ROLLOUT_GATE_FAILED: 422,
  HOT_ERR_ROLLOUT_STATE: 409,
  HOT_ERR_HANDOFF_RUNNING: 409,
  HOT_ERR_HANDOFF_INCOMPATIBLE: 409,
  HOT_ERR_HANDOFF_FAILED: 502,
};

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HotlineError, request, reply) => {
    if (error instanceof HotlineError) {
      if (error.code === 'HOT_ERR_UPGRADE_REQUIRED') reply.header('upgrade', 'websocket');
      return reply.status(httpStatus[error.code]).send({ code: error.code, message: error.message });
    }
    if ((error as FastifyError).validation) {
      return reply.status(400).send({ code: 'HOT_ERR_BAD_REQUEST', message: error.message });
    }
    request.log.error({ err: error }, 'unhandled error');
    const status = (error as FastifyError).statusCode ?? 500;
    return reply
      .status(status)
      .send({ code: status >= 500 ? 'HOT_ERR_INTERNAL' : 'HOT_ERR_BAD_REQUEST', message: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ code: 'HOT_ERR_NOT_FOUND', message: `${request.method} ${request.url} not found` }),
  );
}
