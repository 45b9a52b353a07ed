// Node-RED settings for the load-bench peer (benches/peers/README.md): headless, no editor, no
// HTTP server, runs the committed flows.json and writes nothing next to it.
//
// Environment: NODERED_USER_DIR (a fresh temp dir; required), MQTT_PORT and KAFKA_BROKER (read
// by flows.json through Node-RED's `${VAR}` property substitution). `run` checks all three.
const path = require("path");

if (!process.env.NODERED_USER_DIR) {
    throw new Error("NODERED_USER_DIR is not set");
}

module.exports = {
    flowFile: path.join(__dirname, "flows.json"),
    userDir: process.env.NODERED_USER_DIR,
    // Node-RED writes package.json and .config.*.json into userDir at start; flows.json is only
    // ever written by a deploy, and there is no editor or admin API to deploy with.
    readOnly: false,
    credentialSecret: false,

    // Headless: with both roots false red.js starts no HTTP server at all (uiPort unused).
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    telemetry: { enabled: false, updateNotification: false },

    logging: {
        console: { level: "warn", metrics: false, audit: false },
    },

    functionGlobalContext: {},
    functionExternalModules: false,
    externalModules: {
        autoInstall: false,
        palette: { allowInstall: false, allowUpload: false },
        modules: { allowInstall: false },
    },
    exportGlobalContextKeys: false,
};
