-- Segment's `integrations` object of a call (which destinations it is meant for), as sent:
-- batch-level keys merged under the item's own. Null when the call had none.
alter table events add column integrations jsonb;
