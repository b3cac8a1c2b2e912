// pm2 ecosystem of the demo's roles as long-running services on loopback: the local beacon,
// the dev chain, three miners and a validator (tiny model, 1 s blocks, 6-block windows).
//   deploy/pm2/prepare.sh WORK
//   GRAIL_PM2_WORK=WORK pm2 start deploy/pm2/ecosystem.config.js
//   pm2 logs; open http://127.0.0.1:9100/ (the validator's status page)
// Settings from the environment: GRAIL_PM2_WORK (default .pm2-subnet), GRAIL_BIN (default
// target/debug), GRAIL_MODEL (default fixtures/models/tiny), ORT_DYLIB_PATH, and the ports
// GRAIL_PM2_BEACON_PORT (8081), GRAIL_PM2_CHAIN_PORT (9944), GRAIL_PM2_HTTP_PORT (9100).
// For a real subnet, run grail-miner / grail-validator alone with --config files instead.
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");
const env = process.env;
const work = path.resolve(env.GRAIL_PM2_WORK || path.join(root, ".pm2-subnet"));
const bin = env.GRAIL_BIN || path.join(root, "target", "debug");
const model = env.GRAIL_MODEL || path.join(root, "fixtures", "models", "tiny");
const port = {
  beacon: env.GRAIL_PM2_BEACON_PORT || "8081",
  chain: env.GRAIL_PM2_CHAIN_PORT || "9944",
  http: env.GRAIL_PM2_HTTP_PORT || "9100",
};
const genesis = fs.readFileSync(path.join(work, "beacon-genesis"), "utf8").trim();
const relay = `http://127.0.0.1:${port.beacon}`;
const wallet = ["--wallet.path", path.join(work, "wallets"), "--wallet.name", "subnet"];
const network = [
  "--netuid", "1", "--chain.block-time", "1", "--window.blocks", "6", "--window.grace", "2",
  "--beacon.chain", "local", "--beacon.relays", relay, "--max-new-tokens", "16", "--threads", "1",
  "--storage.path", path.join(work, "storage"),
];

function app(name, binary, args) {
  return {
    name,
    script: path.join(bin, binary),
    args,
    interpreter: "none",
    cwd: work,
    autorestart: true,
    restart_delay: 2000,
    max_restarts: 100,
    out_file: path.join(work, "logs", `${name}.out`),
    error_file: path.join(work, "logs", `${name}.log`),
    env: {
      GRAIL_LOG_LEVEL: "info",
      ORT_DYLIB_PATH: env.ORT_DYLIB_PATH || path.join(root, ".ort", "lib", "libonnxruntime.so"),
    },
  };
}

const miners = [1, 2, 3].map((i) =>
  app(`grail-miner${i}`, "grail-miner", [
    "mine", "--model", model, ...wallet, "--wallet.hotkey", `miner${i}`,
    "--subtensor.chain_endpoint", `ws://127.0.0.1:${port.chain}`, ...network, "--problems", "2",
  ]),
);

module.exports = {
  apps: [
    app("grail-beacon", "grail-beacon", [
      "--listen", `127.0.0.1:${port.beacon}`, "--period", "1", "--genesis", genesis,
    ]),
    app("grail-devchain", "grail-devchain", [
      "--genesis", path.join(work, "genesis.json"), "--listen", `127.0.0.1:${port.chain}`,
      "--block-time-ms", "1000", "--beacon.chain", "local", "--beacon.relays", relay,
    ]),
    ...miners,
    app("grail-validator", "grail-validator", [
      "run", "--model", model, "--data", path.join(work, "validator"), ...wallet,
      "--wallet.hotkey", "owner", "--subtensor.chain_endpoint", `http://127.0.0.1:${port.chain}`,
      ...network, "--window.challenge-buffer", "2", "--weights.span", "2", "--weights.cap", "32",
      "--weights.burn-bps", "5000", "--http.listen", `127.0.0.1:${port.http}`,
    ]),
  ],
};
