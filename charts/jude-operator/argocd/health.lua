-- Argo CD health check for the JUDE kinds (EmbeddingModel, NearlinePipeline, BootstrapRun).
-- It reads the kstatus conditions the operator writes (Ready, Reconciling, Stalled) and
-- observedGeneration, so Argo CD and Flux judge a JUDE object the same way:
--   Degraded    Stalled=True (the message says why: a failed gate, a missing Secret, a failed bootstrap)
--   Suspended   a BootstrapRun with spec.suspend, or an EmbeddingModel waiting for a Manual cutover
--               approval (a person must act: `kubectl jude approve` or commit approvedVersion; one given
--               for an earlier build of the version must be removed and given again)
--   Progressing the operator has not yet seen this generation, or Reconciling=True, or not Ready yet
--   Healthy     Ready=True for the current generation
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then return c end
  end
  return nil
end

if obj.status == nil then return hs end

local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "The operator has not yet observed generation " .. tostring(generation)
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or stalled.reason or "Stalled"
  return hs
end

if obj.kind == "BootstrapRun" then
  if obj.status.phase == "Failed" then
    hs.status = "Degraded"
    hs.message = "Bootstrap failed"
    return hs
  end
  if (obj.spec ~= nil and obj.spec.suspend == true) or obj.status.phase == "Suspended" then
    hs.status = "Suspended"
    hs.message = "Bootstrap suspended (spec.suspend)"
    return hs
  end
end

if obj.kind == "EmbeddingModel" and obj.status.versions ~= nil then
  for _, v in ipairs(obj.status.versions) do
    if v.phase == "AwaitingCutover" then
      hs.status = "Suspended"
      hs.message = "Version " .. v.version .. " passed every gate and waits for approval (spec.promotion.approvedVersion)"
      -- approvedVersion names it already, for an earlier build of that name: setting it again changes nothing.
      local waiting = condition("Ready")
      if waiting ~= nil and waiting.reason == "ApprovalPredatesBuild" then
        hs.message = "Version " .. v.version .. " passed every gate, but its approval was given for an earlier build of " ..
          v.version .. " and must be given again: remove spec.promotion.approvedVersion, wait until status.approval is gone, and set it to " ..
          v.version .. " again"
      end
      return hs
    end
  end
end

local ready = condition("Ready")
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = reconciling.message or "Reconciling"
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
if ready ~= nil then hs.message = ready.message or "Not ready" end
return hs
