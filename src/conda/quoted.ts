/** JSON.stringify for messages, so odd characters show up escaped (long values cut at 80). */
export function quoted(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
}
