declare const __FOTA_VERSION__: string;
/** The oldest Node.js fota-agent runs on (package.json "fota.node.agent"; scripts/build.mjs defines it). */
declare const __FOTA_NODE_AGENT__: string;
/** The oldest Node.js the fota CLI and hub run on (package.json "fota.node.hub"). */
declare const __FOTA_NODE_HUB__: string;
