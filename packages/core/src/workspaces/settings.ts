import Type from "typebox";
import { messagingSettingsProperties } from "../messages/settings.ts";

/**
 * A workspace's settings: how its store's data reads (phone region, currency, time zone)
 * and, as later features add them, its sending policy. Stored as JSON on the workspace.
 */
export const WorkspaceSettings = Type.Object(
  {
    defaultPhoneRegion: Type.Optional(
      Type.String({
        pattern: "^[A-Z]{2}$",
        description: "ISO 3166 country used to read national phone numbers",
      }),
    ),
    currency: Type.Optional(
      Type.String({
        pattern: "^[A-Z]{3}$",
        description: "ISO 4217 store currency",
      }),
    ),
    timeZone: Type.Optional(
      Type.String({ minLength: 1, description: "IANA time zone of the store" }),
    ),
    locale: Type.Optional(
      Type.String({
        minLength: 2,
        description: "BCP 47 locale of the store, such as en-US",
      }),
    ),
    storeName: Type.Optional(Type.String({ maxLength: 200 })),
    storeUrl: Type.Optional(Type.String({ pattern: "^https?://" })),
    teamEmail: Type.Optional(
      Type.String({
        pattern: "^[^\\s@]+@[^\\s@]+$",
        description:
          'where flows\' team notifications go (notify nodes sent to "team")',
      }),
    ),
    ...messagingSettingsProperties,
  },
  { additionalProperties: true },
);
export type WorkspaceSettings = Type.Static<typeof WorkspaceSettings>;
