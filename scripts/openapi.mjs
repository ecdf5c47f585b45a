// Writes docs/openapi.json, the API's OpenAPI 3 document, from the built routes (npm run openapi).
// src/api/contract.test.ts fails while the committed copy differs from what the code makes.
import { writeFile } from 'node:fs/promises';
import { openApiDocument } from '../dist/src/api/openapi.js';

const doc = await openApiDocument();
await writeFile('docs/openapi.json', `${JSON.stringify(doc, null, 2)}\n`);
console.log(`docs/openapi.json: ${Object.keys(doc.paths).length} paths, ${Object.keys(doc.components.schemas).length} schemas`);
