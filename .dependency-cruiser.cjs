// The layers of cocomem, bottom to top, and the rule that ties them: a module imports only from
// its own layer's group or from layers below it, never upward, and nothing imports in a cycle.
// Groups that share a layer are independent of each other: the three parties never import one
// another (they meet only through the protocol), nor do the hardware model, the monitors and the
// log readers. `npm test` runs this check (npm run layers); test/layers.test.ts shows it catches
// a back edge.
/** [layer name, path patterns of its groups]: one group per pattern. */
const LAYERS = [
  ["protocol", ["^protocol/"]],
  ["kit", ["^src/kit/"]],
  ["hardware, monitors, log readers", ["^src/hardware/", "^src/monitors/", "^src/log/"]],
  ["runtime", ["^src/runtime/"]],
  ["parties", ["^actors/guest/", "^actors/host/", "^actors/trusted/"]],
  ["adversaries, scenarios", ["^src/adversaries/", "^src/scenarios/"]],
  ["run assembly", ["^src/run/"]],
  ["transports", ["^src/transport/"]],
  ["explorer", ["^src/explore/"]],
  ["viewer", ["^src/view/"]],
  ["cli", ["^src/cli/"]],
];

const upward = LAYERS.flatMap(([name, groups], i) => {
  const above = LAYERS.slice(i + 1).flatMap(([, patterns]) => patterns);
  if (above.length === 0) return [];
  return [
    {
      name: "no-upward-import",
      comment: `the ${name} layer may import only from its own layer or below`,
      severity: "error",
      from: { path: groups.join("|") },
      to: { path: above.join("|") },
    },
  ];
});

const sideways = LAYERS.flatMap(([name, groups]) =>
  groups.flatMap((group) => {
    const others = groups.filter((g) => g !== group);
    if (others.length === 0) return [];
    return [
      {
        name: "no-sideways-import",
        comment: `groups of the ${name} layer are independent of each other`,
        severity: "error",
        from: { path: group },
        to: { path: others.join("|") },
      },
    ];
  }),
);

module.exports = {
  forbidden: [
    ...upward,
    ...sideways,
    {
      name: "no-circular",
      comment: "no module reaches itself through its imports",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      // The explorer's worker bootstrap imports tsx's API through an "exports" map the cruiser's
      // resolver does not follow; Node resolves it (and the explorer's worker tests load it).
      from: { pathNot: "^src/explore/worker-boot\\.mjs$" },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // Type-only imports count: a type from an upper layer is a dependency on it all the same.
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs"] },
  },
};
