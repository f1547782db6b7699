// Runs graphql-http's server audit (GraphQL over HTTP) against the URL given as the only
// argument and prints one JSON array: {id, name, status, reason?, httpStatus?, body?} per audit.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}
const results = await auditServer({ url });
const rows = [];
for (const result of results) {
  const row = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    row.reason = result.reason;
    row.httpStatus = result.response.status;
    row.contentType = result.response.headers.get('content-type');
    row.body = await result.response.text().catch(() => '(body already read)');
  }
  rows.push(row);
}
console.log(JSON.stringify(rows));
