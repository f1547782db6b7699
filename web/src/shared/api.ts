// GraphQL over HTTP (one POST per operation) and graphql-ws for subscriptions.
import { createClient, type Client } from "graphql-ws";
import type { TypedDocumentString } from "../gql/graphql";

/** A GraphQL error the API answered, with its extensions.code and the field it names. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly field: string | undefined,
  ) {
    super(message);
  }
}

interface GraphQLErrorBody {
  message: string;
  extensions?: { code?: string; field?: string };
}

export function wsUrl(endpoint: string): string {
  const url = new URL(endpoint, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

export async function execute<R, V>(
  endpoint: string,
  document: TypedDocumentString<R, V>,
  variables: V,
  token: string | null,
): Promise<R> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    Accept: "application/graphql-response+json, application/json",
  };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(endpoint, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: document.toString(), variables }),
  });
  const body = (await response.json().catch(() => null)) as { data?: R; errors?: GraphQLErrorBody[] } | null;
  const first = body?.errors?.[0];
  if (first) throw new ApiError(first.message, first.extensions?.code, first.extensions?.field);
  if (!response.ok || !body?.data) throw new ApiError(`HTTP ${response.status}`, undefined, undefined);
  return body.data;
}

export type LinkState = "connecting" | "online" | "offline";

function isSessionEnd(event: unknown): boolean {
  return typeof event === "object" && event !== null && (event as { code?: unknown }).code === 4401;
}

/** Resolves after `ms`, or as soon as the browser says the network is back. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      removeEventListener("online", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    addEventListener("online", done);
  });
}

/**
 * A websocket that reconnects forever after a network loss, reporting its state: "connecting"
 * until it first connects, then "offline" whenever it is not connected (retrying meanwhile).
 */
export function live(
  endpoint: string,
  token: () => string | null,
  onState: (state: LinkState) => void,
  onSessionEnded?: () => void,
): Client {
  let connectedOnce = false;
  const client = createClient({
    url: wsUrl(endpoint),
    connectionParams: () => {
      const current = token();
      return current ? { Authorization: `Bearer ${current}` } : {};
    },
    lazy: false,
    retryAttempts: Number.POSITIVE_INFINITY,
    // 1, 2, 4 ... up to 10 s between attempts, with jitter so that clients do not storm back.
    retryWait: (retries) => pause(Math.min(10_000, 1000 * 2 ** retries) * (0.5 + Math.random() / 2)),
    // 4401: the server ended this session (expired, revoked, deactivated): retrying is useless.
    shouldRetry: (event) => !isSessionEnd(event),
    // A ping every 10 s; a socket whose pong does not come back is closed and retried.
    keepAlive: 10_000,
    on: {
      connecting: () => onState(connectedOnce ? "offline" : "connecting"),
      connected: () => {
        connectedOnce = true;
        onState("online");
      },
      closed: (event) => {
        onState(connectedOnce ? "offline" : "connecting");
        if (isSessionEnd(event)) onSessionEnded?.();
      },
    },
  });
  // The browser knows of a network loss before the socket does: drop it now, so the state is
  // true at once and the retries start (the subscriptions resume when it is back).
  const lost = () => {
    onState("offline");
    client.terminate();
  };
  addEventListener("offline", lost);
  const dispose = client.dispose.bind(client);
  client.dispose = () => {
    removeEventListener("offline", lost);
    return dispose();
  };
  return client;
}

/** Subscribe to `document`; returns the function that stops it. */
export function follow<R, V>(
  client: Client,
  document: TypedDocumentString<R, V>,
  variables: V,
  next: (data: R) => void,
  fail?: (error: ApiError) => void,
): () => void {
  return client.subscribe<R>(
    { query: document.toString(), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        const first = (result.errors as GraphQLErrorBody[] | undefined)?.[0];
        if (first) fail?.(new ApiError(first.message, first.extensions?.code, first.extensions?.field));
        else if (result.data) next(result.data);
      },
      error: () => undefined,
      complete: () => undefined,
    },
  );
}
