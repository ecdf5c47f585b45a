// Registers a route from the contract: its method and path (sdk/routes.ts) and its schemas
// (api/contract.ts). Every route answers refusals and failures in the one error shape.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ROUTES, type RouteName } from '../sdk/routes.js';
import { ErrorBody } from '../sdk/types.js';
import { CONTRACT, type Answer, type RouteContract } from './contract.js';

type Entry<K extends RouteName> = (typeof CONTRACT)[K];
type Out<S> = S extends z.ZodType ? z.output<S> : unknown;
type Part<K extends RouteName, P extends string> = Entry<K> extends { [k in P]: infer S } ? Out<S> : unknown;

/** The request a handler of route `K` gets: params, query and body already validated. */
export type RequestOf<K extends RouteName> = FastifyRequest<{ Params: Part<K, 'params'>; Querystring: Part<K, 'querystring'>; Body: Part<K, 'body'> }>;

export function route<K extends RouteName>(
  fastify: FastifyInstance,
  name: K,
  handler: (req: RequestOf<K>, reply: FastifyReply) => Promise<Answer<K> | FastifyReply | void>,
): void {
  const { method, url } = ROUTES[name];
  const c: RouteContract = CONTRACT[name];
  fastify.route({
    method,
    url,
    schema: {
      operationId: name,
      summary: c.summary,
      ...(c.description ? { description: c.description } : {}),
      tags: c.tags,
      ...(c.params ? { params: c.params } : {}),
      ...(c.querystring ? { querystring: c.querystring } : {}),
      ...(c.body ? { body: c.body } : {}),
      response: { ...c.response, '4xx': ErrorBody, '5xx': ErrorBody },
    },
    handler: handler as (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
  });
}
