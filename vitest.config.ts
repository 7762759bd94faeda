import { defineConfig } from "vitest/config";

// Two groups, one after the other: the model's tests, then the viewer's in a real browser on a
// machine left to them, so the viewer's load-time bound is measured without the rest competing.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: "model",
          include: ["test/**/*.test.ts"],
          exclude: ["test/view/**"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: "browser", include: ["test/view/**/*.test.ts"], sequence: { groupOrder: 1 } },
      },
    ],
  },
});
