"""The object cache's Lua scripts: each touches the keys of one owner (one Cluster slot).

A task value is its epoch (12 digits), its version (12 digits), `|`, the task: versions are
characters 13 to 24."""

from storage.redis_scripts import LuaScript

# After a write: the task's new version (or tombstone) over any older one, and a new
# generation for its owner, retiring every list and count computed before the write.
WRITE = """
local current = redis.call('GET', KEYS[1])
local newer = tonumber(string.sub(ARGV[1], 13, 24))
if (not current) or tonumber(string.sub(current, 13, 24)) < newer then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 0
"""

# Reads an owner's generation and entries; an owner without a generation gets one first, so
# that what this read fetches from MongoDB can be filled under it.
READ = """
local generation = redis.call('GET', KEYS[1])
if not generation then
  generation = ARGV[1]
  redis.call('SET', KEYS[1], generation, 'PX', ARGV[2])
end
local reply = redis.call('MGET', unpack(KEYS, 2))
table.insert(reply, 1, generation)
return reply
"""

# Fills an owner's entries only if the owner's generation is still the one read before
# MongoDB was: any write since (or the generation's loss: eviction, flush, restart) refuses
# the fill; a lost generation is replaced by a new one.
# KEYS: generation, entries. ARGV: generation read, TTL ms, new generation, its TTL ms,
# versioned (1: only over an older version, or the same version under another epoch), values.
FILL = """
local generation = redis.call('GET', KEYS[1])
if not generation then
  redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[4])
  return 0
end
if generation ~= ARGV[1] then
  return 0
end
for i = 2, #KEYS do
  local new = ARGV[i + 4]
  local current = ARGV[5] == '1' and redis.call('GET', KEYS[i])
  local version = tonumber(string.sub(new, 13, 24))
  if (not current) or tonumber(string.sub(current, 13, 24)) <= version then
    redis.call('SET', KEYS[i], new, 'PX', ARGV[2])
  end
end
return 1
"""

# For scripts of other modules (the HTTP lanes): the owned value at `key` if it was written
# under the epoch's `stamp` and the owner's current generation (at `generation_key`), with the
# length of that head and the generation; nil otherwise.
CURRENT_ENTRY_FUNCTION = """
local function current_entry(generation_key, key, stamp)
  local generation = redis.call('GET', generation_key)
  if not generation then return nil end
  local value = redis.call('GET', key)
  if not value then return nil end
  local head = stamp .. generation .. '|'
  if string.sub(value, 1, #head) ~= head then return nil end
  return value, #head, generation
end
"""

WRITE_SCRIPT = LuaScript(WRITE)
READ_SCRIPT = LuaScript(READ)
FILL_SCRIPT = LuaScript(FILL)
ALL = (WRITE_SCRIPT, READ_SCRIPT, FILL_SCRIPT)
