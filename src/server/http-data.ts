/**
 * An HTTP request whose body the server already read (once, in the main thread, at most
 * MAX_MESSAGE_BYTES), and the response to it: how WHIP/WHEP and the recording API are
 * handled wherever the room lives (this thread or a room worker), as plain data.
 */
export interface HttpRequestData {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

export interface HttpResponseData {
  status: number;
  headers: Record<string, string | number | string[]>;
  body: string | Uint8Array;
}

export const jsonResponse = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseData => ({
  status,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

export const textResponse = (status: number, text: string, headers: Record<string, string> = {}): HttpResponseData => ({
  status,
  headers: { 'content-type': 'text/plain; charset=utf-8', ...headers },
  body: text.endsWith('\n') ? text : `${text}\n`,
});
