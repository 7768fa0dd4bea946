import type { Db, Filter } from 'mongodb';
import {
  COLLECTIONS,
  DuplicateError,
  type TeamDoc,
  type TeamMemberDoc,
  type TeamPatch,
  type TeamStore,
} from '../store.ts';
import { isDuplicate } from './errors.ts';

/**
 * Teams and their memberships. A membership is a document of its own with a unique _id per
 * (team, user), so adding and removing members are single-document steps: atomic on MongoDB
 * and on FerretDB alike (which makes no conditional update atomic).
 */
export class MongoTeams implements TeamStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }
  get #teams() {
    return this.#db.collection<TeamDoc>(COLLECTIONS.teams);
  }
  get #members() {
    return this.#db.collection<TeamMemberDoc>(COLLECTIONS.teamMembers);
  }

  async create(team: TeamDoc) {
    try {
      await this.#teams.insertOne(team);
    } catch (err) {
      if (isDuplicate(err)) throw new DuplicateError(`team "${team.name}" already exists`);
      throw err;
    }
  }
  list() {
    return this.#teams.find({}, { sort: { name_key: 1 } }).toArray();
  }
  byId(id: string) {
    return this.#teams.findOne({ _id: id });
  }
  byName(name: string) {
    return this.#teams.findOne({ name_key: name.toLowerCase() });
  }
  async update(id: string, patch: TeamPatch) {
    return (await this.#teams.updateOne({ _id: id }, { $set: patch })).matchedCount === 1;
  }
  async delete(id: string) {
    const { deletedCount } = await this.#teams.deleteOne({ _id: id });
    // Memberships go after the team: one left behind by a crash names a team that no longer exists.
    await this.#members.deleteMany({ team_id: id });
    return deletedCount === 1;
  }
  async addMember(member: TeamMemberDoc) {
    try {
      await this.#members.insertOne(member);
      return true;
    } catch (err) {
      if (isDuplicate(err)) return false;
      throw err;
    }
  }
  async removeMember(teamId: string, userId: string) {
    return (await this.#members.deleteOne({ team_id: teamId, user_id: userId })).deletedCount === 1;
  }
  members(query: { team_ids?: readonly string[]; user_id?: string } = {}) {
    const filter: Filter<TeamMemberDoc> = {};
    if (query.team_ids !== undefined) filter.team_id = { $in: [...query.team_ids] };
    if (query.user_id !== undefined) filter.user_id = query.user_id;
    return this.#members.find(filter, { sort: { team_id: 1, user_id: 1 } }).toArray();
  }
}
