// Pipelines: stages in order (staging → production), one app each.

export interface PipelineStage {
  /** The stage's name, e.g. "staging" (core/names.ts's pipeline rule). */
  stage: string;
  app: string;
}

export interface Pipeline {
  name: string;
  /** In promotion order: an app promotes to the next one. */
  stages: PipelineStage[];
  createdAt: number;
}
