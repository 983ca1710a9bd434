/**
 * The observer on the admin surface: the page at /observer, its sign-in and sign-out, its
 * static files, and the event stream it draws from (GET /admin/observer/events). Its actions
 * use the release routes like any other admin client.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import Type from 'typebox';
import { hotlineError } from '../errors/catalogue.ts';
import { type AdminAuth, adminCredential } from './auth.ts';
import { openEventStream } from './event-stream.ts';
import type { ObserverFeed } from './observer-feed.ts';
import { OBSERVER_COOKIE } from './observer-session.ts';
import { SIGN_IN_CSP, signInPage } from './observer-sign-in.ts';

export interface ObserverRoutes {
  node: string;
  auth: AdminAuth;
  feed: ObserverFeed;
}

const PAGE_DIR = fileURLToPath(new URL('./observer/', import.meta.url));
const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
const UPLOT_FILES = new Set(['uPlot.iife.min.js', 'uPlot.min.css']);

const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SignIn = Type.Object({ token: Type.String({ maxLength: 1024 }) });
const VendorFile = Type.Object({ file: Type.String({ maxLength: 64 }) });

export async function observerRoutes(app: FastifyInstance, r: ObserverRoutes): Promise<void> {
  const { sessions } = r.auth;
  const streams = new Set<() => void>();
  // An open page keeps its stream forever: end them, or closing the server waits on them.
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.get('/admin/observer/events', (req, reply) => {
    // A stream opened with a session ends with it: signed out, or expired.
    const session =
      adminCredential(r.auth, req)?.via === 'session' ? req.cookies[OBSERVER_COOKIE] : undefined;
    let unsubscribe = (): void => undefined;
    const stream = openEventStream(reply, () => {
      unsubscribe();
      streams.delete(stream.end);
    });
    streams.add(stream.end);
    try {
      unsubscribe = r.feed.subscribe(
        (e) => {
          if (session === undefined || sessions.valid(session)) stream.send(e.data, e.event);
          else stream.end();
        },
        () => stream.end(),
      );
    } catch (err) {
      req.log.error({ err }, 'observer snapshot failed');
      stream.end();
    }
  });

  await app.register(async (scope) => {
    const typed = scope.withTypeProvider<TypeBoxTypeProvider>();
    // Plain HTML forms post this; only here, where the sign-in form does.
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 4096 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    scope.addHook('onSend', async (_req, reply) => {
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'no-referrer');
      if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', PAGE_CSP);
    });
    await scope.register(fastifyStatic, {
      root: `${PAGE_DIR}assets`,
      prefix: '/observer/assets/',
      index: false,
    });

    const signInForm = (reply: FastifyReply, error?: string) =>
      reply
        .status(401)
        .header('content-security-policy', SIGN_IN_CSP)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(signInPage(r.node, error));

    scope.get('/observer', { config: { public: true } }, (req, reply) => {
      if (adminCredential(r.auth, req) === null) return signInForm(reply);
      return reply.header('cache-control', 'no-store').sendFile('index.html', PAGE_DIR);
    });
    typed.get('/observer/vendor/:file', { schema: { params: VendorFile } }, (req, reply) => {
      if (!UPLOT_FILES.has(req.params.file)) throw hotlineError('HOT_ERR_NOT_FOUND', req.params.file);
      return reply.sendFile(req.params.file, UPLOT_DIR);
    });

    typed.post('/observer/session', { config: { public: true }, schema: { body: SignIn } }, (req, reply) => {
      const holder = r.auth.tokens.identify(req.body.token);
      if (holder === null) {
        const refused = hotlineError('HOT_ERR_WRONG_ADMIN_TOKEN');
        if (req.headers['content-type']?.startsWith('application/json')) throw refused;
        return signInForm(reply, refused.message);
      }
      // Whose sign-in it was, for the audit trail (the route is public: no hook has set it).
      req.adminHolder = holder;
      return reply
        .setCookie(OBSERVER_COOKIE, sessions.create(holder), {
          httpOnly: true,
          sameSite: 'strict',
          // Over https the browser must never send it over plain http.
          secure: req.protocol === 'https',
          path: '/',
          maxAge: sessions.ttlMs / 1000,
        })
        .redirect('/observer', 303);
    });
    // A plain form, so it works without the page's script; it ends only the session it names.
    scope.post('/observer/session/delete', { config: { public: true } }, (req, reply) => {
      sessions.revoke(req.cookies[OBSERVER_COOKIE]);
      return reply.clearCookie(OBSERVER_COOKIE, { path: '/' }).redirect('/observer', 303);
    });
  });
}
